"""Writes golden fixtures from PyTorch's nn.LSTM, or nn.GRU and nn.RNN, computed in float64.

For each LSTM case: the weights in PyTorch's layout (weight_ih_l{k} [4H, I], weight_hh_l{k}
[4H, H], bias_ih_l{k}, bias_hh_l{k}, gates i, f, g, o), a time-major input [T, B, I], the
initial state h0, c0 [L, B, H], the outputs [T, B, H] and final state hn, cn, and the gradients
of

    loss = sum(output * r_output) + sum(hn * r_hidden) + sum(cn * r_cell)

with respect to the input, h0, c0 and every weight, for fixed random r_*. GRU (gates r, z, n:
weights [3H, ·]) and tanh RNN (weights [H, ·]) cases have the same fields but no c0, cn or
r_cell. Every case names its "cell", and its name begins with it. Every tensor is stored flat (row-major) beside its shape.

Usage: golden_fixtures.py OUT.json               (LSTM cases)
       golden_fixtures.py --gru-rnn OUT.json     (GRU and RNN cases)
"""

import json
import sys

import torch

# Each case: its name, then (seq_len, batch, input_size, hidden_size, layers) for the LSTM and
# for the GRU and RNN, which are smaller so that their fixture stays under 100 KB.
CASES = [
    ("single_step_single_unit", (1, 1, 1, 1, 1), (1, 1, 1, 1, 1)),
    ("batch_1", (6, 1, 3, 5, 1), (5, 1, 3, 4, 1)),
    ("input_wider_than_hidden", (5, 3, 7, 4, 1), (4, 3, 6, 3, 1)),
    ("two_layers", (7, 2, 5, 4, 2), (5, 2, 4, 3, 2)),
    ("two_layers_one_step", (1, 3, 2, 6, 2), (1, 3, 2, 4, 2)),
]


def flat(tensor):
    return {"shape": list(tensor.shape), "values": [float(v) for v in tensor.detach().reshape(-1)]}


MODULES = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}


def case(cell, name, seq_len, batch, input_size, hidden, layers, generator):
    """One case of `cell`; the LSTM's also has c0, cn and r_cell."""

    def uniform(*shape, scale=1.0):
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale

    lstm = cell == "lstm"
    recurrent = MODULES[cell](input_size, hidden, num_layers=layers).double()
    with torch.no_grad():
        for parameter in recurrent.parameters():
            parameter.copy_(uniform(*parameter.shape, scale=0.8))
    x = uniform(seq_len, batch, input_size, scale=1.5).requires_grad_()
    initial = {"h0": uniform(layers, batch, hidden, scale=0.9).requires_grad_()}
    if lstm:
        initial["c0"] = uniform(layers, batch, hidden, scale=2.0).requires_grad_()
        output, (hn, cn) = recurrent(x, (initial["h0"], initial["c0"]))
        finals = {"hn": hn, "cn": cn}
    else:
        output, hn = recurrent(x, initial["h0"])
        finals = {"hn": hn}
    weighting = {"r_output": uniform(seq_len, batch, hidden), "r_hidden": uniform(layers, batch, hidden)}
    if lstm:
        weighting["r_cell"] = uniform(layers, batch, hidden)
    loss = (output * weighting["r_output"]).sum() + (hn * weighting["r_hidden"]).sum()
    if lstm:
        loss = loss + (cn * weighting["r_cell"]).sum()
    loss.backward()

    weights = {}
    gradients = {"input": flat(x.grad)} | {k: flat(v.grad) for k, v in initial.items()}
    for parameter_name, parameter in recurrent.named_parameters():
        weights[parameter_name] = flat(parameter)
        gradients[parameter_name] = flat(parameter.grad)
    return {
        "cell": cell,
        "name": f"{cell}_{name}",
        "seq_len": seq_len,
        "batch": batch,
        "input_size": input_size,
        "hidden_size": hidden,
        "layers": layers,
        "weights": weights,
        "input": flat(x),
        **{k: flat(v) for k, v in initial.items()},
        "output": flat(output),
        **{k: flat(v) for k, v in finals.items()},
        **{k: flat(v) for k, v in weighting.items()},
        "gradients": gradients,
    }


def main():
    gru_rnn = sys.argv[1] == "--gru-rnn"
    out = sys.argv[-1]
    if gru_rnn:
        generator = torch.Generator().manual_seed(20261126)
        cases = [case(cell, name, *sizes, generator) for cell in ("gru", "rnn") for name, _, sizes in CASES]
    else:
        generator = torch.Generator().manual_seed(20261125)
        cases = [case("lstm", name, *sizes, generator) for name, sizes, _ in CASES]
    fixtures = {
        "generator": f"scripts/golden_fixtures.py, PyTorch {torch.__version__}, float64",
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(fixtures, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(fixtures['cases'])} cases to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
