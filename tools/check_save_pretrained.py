"""Dev-only: a directory written by GPT2.save_pretrained loads in Hugging Face transformers with the same
logits (and its tokenizer files in GPT2TokenizerFast with the same ids). Needs torch + transformers.

    .dev/bin/python tools/check_save_pretrained.py              # random small model
    .dev/bin/python tools/check_save_pretrained.py --dir DIR    # a saved directory, e.g. from
                                                                        # examples/save_tiny_gpt2.py
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import GPT2LMHeadModel, GPT2TokenizerFast  # noqa: E402

from transformer_np import GPT2  # noqa: E402
from transformer_np.tokenizer import BPETokenizer  # noqa: E402

TEXT = "Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex."


def check(directory, ours):
    theirs = GPT2LMHeadModel.from_pretrained(directory).eval()
    ids = np.random.default_rng(0).integers(0, ours.vocab_size, (2, min(32, ours.max_len)))
    with torch.no_grad():
        ref = theirs(torch.from_numpy(ids)).logits.numpy()
    logits = ours.eval().forward(ids)
    err = float(np.abs(logits - ref).max())
    print(f"{directory}: transformers loaded {sum(p.numel() for p in theirs.parameters()):,} parameters; "
          f"max |logits ours - transformers| = {err:.2e}  {'OK' if err < 1e-4 else 'NOT OK'}")
    ok = err < 1e-4
    if os.path.exists(os.path.join(directory, "vocab.json")):
        fast = GPT2TokenizerFast.from_pretrained(directory)
        mine = BPETokenizer.from_pretrained(directory)
        same = fast(TEXT)["input_ids"] == mine.encode(TEXT)
        print(f"tokenizer: GPT2TokenizerFast ids {'==' if same else '!='} ours on a sample text")
        ok &= same
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default=None, help="an existing directory saved by GPT2.save_pretrained")
    args = p.parse_args()
    if args.dir:
        return 0 if check(args.dir, GPT2.from_pretrained(args.dir)) else 1
    with tempfile.TemporaryDirectory() as tmp:
        tok = BPETokenizer.train(TEXT * 20, 300)
        eos = tok.vocab_size - 1
        model = GPT2(dict(vocab_size=tok.vocab_size, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                          bos_token_id=eos, eos_token_id=eos, layer_norm_epsilon=1e-6), seed=0)
        model.save_pretrained(tmp, tokenizer=tok)
        return 0 if check(tmp, model) else 1


if __name__ == "__main__":
    sys.exit(main())
