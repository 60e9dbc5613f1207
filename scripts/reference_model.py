"""What the PyTorch references share: the model charlstm trains (Embedding -> stacked
nn.LSTM / nn.GRU / nn.RNN -> Linear), the contiguous streams it reads, and the shape flags."""

import math

from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharModel(nn.Module):
    def __init__(self, vocab_size, embedding_size, hidden_size, num_layers, cell="lstm"):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.recurrent = CELLS[cell](embedding_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, state=None):
        output, state = self.recurrent(self.embedding(tokens), state)
        return self.head(output), state


def detach(state):
    """The LSTM's state is a pair of tensors, the GRU's and RNN's one tensor."""
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def train_step(model, optimizer, loss_fn, inputs, targets, state, grad_clip):
    """One truncated-BPTT step from the carried `state`, as charlstm takes it: cross-entropy,
    backward, global-norm clipping at `grad_clip`, the optimizer's step. Returns the loss
    tensor and the detached state to carry on."""
    logits, state = model(inputs, state)
    state = detach(state)
    loss = loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss, state


def stream_chunks(ids, batch_size, seq_len, keep_remainder=False):
    """(inputs, targets) chunks of `batch_size` contiguous streams over the id tensor `ids`, as
    charlstm's StreamBatcher cuts them: stream b reads ids[b·n .. (b+1)·n] and predicts the
    tokens one further on; the last short chunk is kept only if `keep_remainder`."""
    stream_len = (len(ids) - 1) // batch_size
    inputs = ids[: batch_size * stream_len].view(batch_size, stream_len)
    targets = ids[1 : batch_size * stream_len + 1].view(batch_size, stream_len)
    if keep_remainder:
        chunks = math.ceil(stream_len / seq_len)
    else:
        chunks = stream_len // seq_len
    for k in range(chunks):
        yield inputs[:, k * seq_len : (k + 1) * seq_len], targets[:, k * seq_len : (k + 1) * seq_len]


def add_shape_arguments(parser, seq_len=100):
    """The model and batch flags both references take, with charlstm's defaults."""
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=seq_len)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--grad-clip", type=float, default=5.0)
