"""Train a tiny GPT-2 on a small text, save it in Hugging Face's layout, then sample from it offline.

    python examples/save_tiny_gpt2.py --out tiny_gpt2            # ~15 s on 2 cores
    python gpt2_infer.py --model tiny_gpt2 -p "Beautiful is" -n 40 --temperature 0

The model is `GPT2` (the library's TransformerLM in GPT-2's configuration) at a toy size; the tokenizer
is a byte-level BPE learned from the same text. The saved directory (config.json, model.safetensors,
vocab.json, merges.txt) also loads in `transformers.GPT2LMHeadModel.from_pretrained(out)`.
"""
import argparse
import codecs
import contextlib
import io
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from transformer_np import GPT2, CrossEntropyLoss  # noqa: E402
from transformer_np.optim import AdamW, clip_grad_norm, decay_groups, warmup_cosine  # noqa: E402
from transformer_np.tokenizer import ENDOFTEXT, BPETokenizer  # noqa: E402


def zen_of_python():
    """The Zen of Python: ships with every Python (rot13-encoded in the `this` module), so no download."""
    with contextlib.redirect_stdout(io.StringIO()):      # importing `this` prints the poem
        import this
    return codecs.decode(this.s, "rot13")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="tiny_gpt2", help="directory to write (default: tiny_gpt2)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--vocab-size", type=int, default=384)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    text = zen_of_python()
    tokenizer = BPETokenizer.train(text, args.vocab_size)            # 256 bytes + merges + <|endoftext|>
    eos = tokenizer.special_tokens[ENDOFTEXT]
    data = np.array([eos] + tokenizer.encode(text) + [eos], dtype=np.int64)
    print(f"{len(text)} characters -> {len(data)} tokens (vocabulary {tokenizer.vocab_size})")

    model = GPT2(dict(vocab_size=tokenizer.vocab_size, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                      bos_token_id=eos, eos_token_id=eos, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
                 seed=args.seed)
    print(f"GPT2 with {model.num_parameters():,} parameters")
    loss_fn = CrossEntropyLoss()
    optimizer = AdamW(decay_groups(model.named_parameters(), 0.01), lr=3e-3)
    rng = np.random.default_rng(args.seed)
    batch, block = 16, 64
    model.train()
    for step in range(args.steps):
        starts = rng.integers(0, len(data) - block - 1, size=batch)
        x = np.stack([data[s:s + block] for s in starts])            # (B, T) inputs
        y = np.stack([data[s + 1:s + block + 1] for s in starts])    # (B, T) next tokens
        model.zero_grad()
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        clip_grad_norm(model.parameters(), 1.0)
        optimizer.lr = warmup_cosine(step, 3e-3, 20, args.steps, 3e-4)
        optimizer.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss:.3f}")

    model.save_pretrained(args.out, tokenizer=tokenizer)
    model.eval()
    prompt = "Beautiful is"
    out = model.generate(np.array([tokenizer.encode(prompt)]), 30, temperature=0, stop_at_eos=True)
    print(f"saved to {args.out}/\ngreedy sample: {tokenizer.decode(out[0].tolist())!r}")
    print(f"try: python gpt2_infer.py --model {args.out} -p {prompt!r} -n 40 --temperature 0")


if __name__ == "__main__":
    main()
