"""Dev-only: gpt.py's hand-written gradients vs PyTorch autograd, on GPT-2 124M's shape with random weights.

Needs torch + transformers (the dev venv: /work/devvenv/bin/python). llm.c's test_gpt2.c check for gpt.py: a
random transformers GPT2LMHeadModel gives its weights to gpt.py (the same names, `transformer.` dropped), both
compute the mean next-token cross-entropy of one random batch, and the worst relative error
max |gpt.py - torch| / max |torch| is printed per tensor (logits, loss, every parameter's gradient).

    /work/devvenv/bin/python tools/check_gpt_torch.py                  # 124M shape, float32, B=4 x T=64
    /work/devvenv/bin/python tools/check_gpt_torch.py --small --dtype float64
Exits 1 if any error exceeds --tol.
"""
import argparse
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

import gpt  # noqa: E402

GPT2_124M = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
SMALL = dict(vocab_size=500, n_positions=64, n_embd=64, n_layer=2, n_head=4)


def relative_error(ours, theirs):
    return float(np.abs(ours - theirs).max() / max(float(np.abs(theirs).max()), 1e-30))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="a 2-layer model instead of the 124M shape")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=None, help="worst relative error allowed (default: 1e-4 "
                   "for float32, 1e-9 for float64)")
    args = p.parse_args()
    tol = args.tol or (1e-4 if args.dtype == "float32" else 1e-9)
    torch_dtype = getattr(torch, args.dtype)
    sizes = SMALL if args.small else GPT2_124M

    torch.manual_seed(args.seed)
    reference = GPT2LMHeadModel(GPT2Config(**sizes, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                           initializer_range=0.05)).to(torch_dtype).train()
    with torch.no_grad():                  # non-zero biases and gains: every path carries a gradient
        for name, tensor in reference.named_parameters():
            if tensor.ndim == 1:
                tensor.add_(0.05 * torch.randn_like(tensor))
    params = {name.removeprefix("transformer."): tensor.detach().numpy().copy()
              for name, tensor in reference.named_parameters() if name != "lm_head.weight"}   # lm_head: tied
    config = dict(sizes, layer_norm_epsilon=1e-5)

    ids = np.random.default_rng(args.seed).integers(0, sizes["vocab_size"], (args.batch, args.seq + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    logits, loss, kept = gpt.forward(params, config, x, y)
    grads = gpt.backward(params, config, kept)

    torch_logits = reference(torch.from_numpy(x)).logits
    torch_loss = F.cross_entropy(torch_logits.reshape(-1, sizes["vocab_size"]), torch.from_numpy(y).reshape(-1))
    torch_loss.backward()
    torch_grads = {name.removeprefix("transformer."): t.grad.numpy() for name, t in reference.named_parameters()
                   if t.grad is not None}

    print(f"GPT-2 shape {sizes}; batch {args.batch} x {args.seq} tokens; {args.dtype}; torch {torch.__version__}")
    rows = [("logits", logits.shape, relative_error(logits, torch_logits.detach().numpy())),
            ("loss", (), abs(loss - torch_loss.item()) / abs(torch_loss.item()))]
    rows += [(name, grads[name].shape, relative_error(grads[name], torch_grads[name])) for name in params]
    for name, shape, err in rows:
        print(f"{name:28s} {str(tuple(shape)):>14s} {err:10.2e} {'OK' if err <= tol else 'NOT OK'}")
    worst = max(rows[2:], key=lambda row: row[2])
    print(f"worst gradient relative error {worst[2]:.2e} ({worst[0]}); logits {rows[0][2]:.2e}; "
          f"loss {rows[1][2]:.2e}; tolerance {tol:.0e}")
    return 0 if all(err <= tol for _, _, err in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
