"""Writes the golden fixture of whole training steps, computed by PyTorch in float64.

A tiny character model (nn.Embedding -> 2-layer nn.LSTM -> nn.Linear, PyTorch's own
initialisation) trains for a few steps the way a plain PyTorch script does: truncated BPTT over
contiguous streams with the state carried (detached) from chunk to chunk, mean cross-entropy,
clip_grad_norm_ (small enough here to clip), Adam. The fixture holds the initial weights under
PyTorch's names, each step's inputs and targets, loss and gradient norm before clipping, and
the weights after the last step, so a test can check that a charlstm step is a PyTorch step.

Usage: golden_training.py OUT.json
"""

import json
import sys

import torch

VOCAB, EMBEDDING, HIDDEN, LAYERS = 7, 5, 6, 2
BATCH, SEQ_LEN, STEPS = 3, 10, 3
LEARNING_RATE, GRAD_CLIP = 0.01, 0.25


def flat(tensor):
    return {"shape": list(tensor.shape), "values": [float(v) for v in tensor.detach().reshape(-1)]}


class CharModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCAB, EMBEDDING)
        self.lstm = torch.nn.LSTM(EMBEDDING, HIDDEN, LAYERS, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, tokens, state):
        output, state = self.lstm(self.embedding(tokens), state)
        return self.head(output), state


def main():
    torch.manual_seed(20261129)
    model = CharModel().double()
    initial = {name: flat(p) for name, p in model.named_parameters()}
    # Contiguous streams: stream b reads ids[b·n .. (b+1)·n] and predicts one token further on.
    ids = torch.randint(0, VOCAB, (BATCH * STEPS * SEQ_LEN + 1,))
    stream_len = STEPS * SEQ_LEN
    inputs = ids[: BATCH * stream_len].view(BATCH, stream_len)
    targets = ids[1 : BATCH * stream_len + 1].view(BATCH, stream_len)

    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    state = None
    steps = []
    for k in range(STEPS):
        chunk = slice(k * SEQ_LEN, (k + 1) * SEQ_LEN)
        logits, state = model(inputs[:, chunk], state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, VOCAB), targets[:, chunk].reshape(-1)
        )
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        steps.append(
            {
                "inputs": inputs[:, chunk].reshape(-1).tolist(),
                "targets": targets[:, chunk].reshape(-1).tolist(),
                "loss": loss.item(),
                "grad_norm": norm.item(),
            }
        )
    fixture = {
        "vocab_size": VOCAB,
        "embedding_size": EMBEDDING,
        "hidden_size": HIDDEN,
        "num_layers": LAYERS,
        "batch_size": BATCH,
        "seq_len": SEQ_LEN,
        "learning_rate": LEARNING_RATE,
        "grad_clip": GRAD_CLIP,
        "initial": initial,
        "steps": steps,
        "final": {name: flat(p) for name, p in model.named_parameters()},
    }
    with open(sys.argv[1], "w") as f:
        json.dump(fixture, f)


if __name__ == "__main__":
    main()
