"""Dev-only: our handwritten GPT-2 gradients vs PyTorch autograd on the same random weights.

Needs torch + transformers (e.g. .dev/bin/python). In the spirit of llm.c's test_gpt2.c: a random
GPT2LMHeadModel is saved by transformers, loaded by GPT2.from_pretrained, both compute the next-token
loss of the same random batch, and every parameter's gradient is compared; prints the worst error per
tensor and exits 1 if any exceeds the tolerance.

    .dev/bin/python tools/check_gpt2_grads.py                 # small config, a few seconds
    .dev/bin/python tools/check_gpt2_grads.py --preset gpt2   # the 124M shape (random weights)
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from transformer_np import GPT2, CrossEntropyLoss  # noqa: E402
from transformer_np.models.gpt2 import PRESETS  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="a released size (random weights)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-4, help="max |ours - torch| / max |torch| per tensor")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    sizes = PRESETS[args.preset] if args.preset else dict(n_embd=128, n_layer=4, n_head=4, vocab_size=1000,
                                                           n_positions=128)
    vocab = sizes.get("vocab_size", 50257)
    config = GPT2Config(**sizes, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.05,
                        bos_token_id=vocab - 1, eos_token_id=vocab - 1)
    ref = GPT2LMHeadModel(config).float().train()
    ids = np.random.default_rng(args.seed).integers(0, config.vocab_size, (args.batch, args.seq))

    with tempfile.TemporaryDirectory() as tmp:
        ref.save_pretrained(tmp)
        ours = GPT2.from_pretrained(tmp).train()

        out = ref(torch.from_numpy(ids), labels=torch.from_numpy(ids))
        out.loss.backward()
        ref_logits = out.logits.detach().numpy()

        logits = ours.forward(ids)
        loss_fn = CrossEntropyLoss()
        loss = loss_fn.forward(logits[:, :-1], ids[:, 1:])
        dlogits = np.zeros_like(logits)
        dlogits[:, :-1] = loss_fn.backward()
        ours.backward(dlogits)

        print(f"config: n_embd={config.n_embd} n_layer={config.n_layer} n_head={config.n_head} "
              f"vocab={config.vocab_size}; batch {args.batch} x {args.seq} tokens; float32")
        logit_err = float(np.abs(logits - ref_logits).max())
        print(f"logits: max |ours - torch| = {logit_err:.3e}   {'OK' if logit_err < 1e-4 else 'NOT OK'}")
        print(f"loss:   ours {loss:.6f}  torch {out.loss.item():.6f}  diff {abs(loss - out.loss.item()):.2e}")
        torch_grads = {name.removeprefix("transformer."): t.grad.numpy()
                       for name, t in ref.named_parameters() if t.grad is not None}
        ok, worst = True, (0.0, "")
        print(f"{'tensor':32s} {'shape':>14s} {'max abs err':>12s} {'max |grad|':>12s} {'rel err':>10s}")
        for name, param in ours.named_parameters():
            expected = torch_grads.pop(name)
            err = float(np.abs(param.grad - expected).max())
            scale = float(np.abs(expected).max())
            rel = err / scale if scale else err
            worst = max(worst, (rel, name))
            good = rel <= args.tol
            ok &= good
            print(f"{name:32s} {str(param.shape):>14s} {err:12.3e} {scale:12.3e} {rel:10.2e} "
                  f"{'OK' if good else 'NOT OK'}")
        if torch_grads:
            print(f"torch gradients with no counterpart: {sorted(torch_grads)}")
            ok = False
        print(f"worst relative error {worst[0]:.2e} ({worst[1]}); overall {'OK' if ok else 'NOT OK'}")
        return 0 if ok and logit_err < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
