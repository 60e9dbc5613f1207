"""Loads a `charlstm export` file into PyTorch's nn.Embedding -> nn.LSTM layers (nn.GRU, nn.RNN:
the file's "cell" metadata; with residual sums between them if its "residual" says so) ->
nn.Linear and checks that it computes the logits charlstm computed
(OUT.reference.json, from `--reference N`).

Usage: check_export.py MODEL.safetensors
"""

import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file


def main():
    path = sys.argv[1]
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    vocab = json.loads(meta["vocab"])
    layers, hidden, emb = int(meta["num_layers"]), int(meta["hidden_size"]), int(meta["embedding_size"])
    # Files written before GRU and RNN support name no cell; they are LSTMs.
    cell = meta.get("cell", "lstm")
    recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]

    # Residual connections: every layer above the first adds its input to its output.
    residual = meta.get("residual") == "true"

    class CharModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(len(vocab), emb)
            # One single-layer module per layer, so the residual sums can go between them.
            self.layers = torch.nn.ModuleList(
                recurrent(emb if k == 0 else hidden, hidden) for k in range(layers)
            )
            self.head = torch.nn.Linear(hidden, len(vocab))

        def forward(self, tokens):  # [T] -> [T, V]
            x = self.embedding(tokens).unsqueeze(1)
            for k, layer in enumerate(self.layers):
                out, _ = layer(x)
                x = out + x if residual and k > 0 else out
            return self.head(x.squeeze(1))

    # The file names layer k's tensors as one multi-layer module does (lstm.weight_ih_l{k});
    # a bidirectional model's backward stack (backward_*) is not part of the forward model.
    tensors = load_file(path)
    forward = {}
    for name, value in tensors.items():
        if name.startswith("backward_"):
            continue
        if name.startswith(cell + "."):
            kind, k = name[len(cell) + 1:].rsplit("_l", 1)
            name = f"layers.{k}.{kind}_l0"
        forward[name] = value
    model = CharModel()
    model.load_state_dict(forward, strict=True)
    reference = json.load(open(path[: -len(".safetensors")] + ".reference.json"))
    with torch.no_grad():
        logits = model(torch.tensor(reference["tokens"]))
    expected = torch.tensor(reference["logits"])
    diff = (logits - expected).abs().max().item()
    print(json.dumps({
        "torch": torch.__version__,
        "cell": cell,
        "tensors": len(tensors),
        "residual": residual,
        "bidirectional": meta.get("bidirectional") == "true",
        "tokens": len(reference["tokens"]),
        "vocab": len(vocab),
        "max_abs_logit_difference": diff,
    }))
    if diff > 1e-4:
        sys.exit(f"logits differ by {diff} (> 1e-4)")


if __name__ == "__main__":
    main()
