"""Loads a `charlstm export` file into PyTorch's nn.Embedding -> nn.LSTM (nn.GRU, nn.RNN: the
file's "cell" metadata) -> nn.Linear and checks that it computes the logits charlstm computed
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

    class CharLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(len(vocab), emb)
            # Registered under the cell's name, as the file's tensors are (lstm.weight_ih_l0, ...).
            self.add_module(cell, recurrent(emb, hidden, num_layers=layers))
            self.head = torch.nn.Linear(hidden, len(vocab))

        def forward(self, tokens):  # [T] -> [T, V]
            x = self.embedding(tokens).unsqueeze(1)
            out, _ = getattr(self, cell)(x)
            return self.head(out.squeeze(1))

    model = CharLSTM()
    model.load_state_dict(load_file(path), strict=True)
    reference = json.load(open(path[: -len(".safetensors")] + ".reference.json"))
    with torch.no_grad():
        logits = model(torch.tensor(reference["tokens"]))
    expected = torch.tensor(reference["logits"])
    diff = (logits - expected).abs().max().item()
    print(json.dumps({
        "torch": torch.__version__,
        "cell": cell,
        "tensors": len(load_file(path)),
        "tokens": len(reference["tokens"]),
        "vocab": len(vocab),
        "max_abs_logit_difference": diff,
    }))
    if diff > 1e-4:
        sys.exit(f"logits differ by {diff} (> 1e-4)")


if __name__ == "__main__":
    main()
