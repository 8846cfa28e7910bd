"""Check that train_toy.py's text checkpoints load in Hugging Face transformers with our logits and ids.

    .dev/bin/python tools/check_text_checkpoint.py            # trains three tiny runs, then checks
    .dev/bin/python tools/check_text_checkpoint.py RUN_DIR    # checks an existing run

The four runs: characters (alphabet in config.json), a BPE learned from the text (vocab.json +
merges.txt), GPT-2's tokenizer, and a fine-tune of the tiny GPT-2 fixture (--init). For each, GPT2LMHeadModel's logits on a
held-out text are compared with our TransformerLM's, and (BPE runs) GPT2TokenizerFast's ids with ours.
Dev only: needs torch and transformers.
"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transformer_np.models import GPT2  # noqa: E402
from transformer_np.tokenizer import BPETokenizer, CharTokenizer  # noqa: E402
from transformer_np.train import Trainer, TrainConfig, defaults_for  # noqa: E402

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 30
PROBE = "Speak, speak. You are all resolved rather to die?"


def train_tiny(out, **overrides):
    values = defaults_for("text")
    values.update(data=str(out.parent / "text.txt"), block_size=32, d_model=32, n_layers=2, n_heads=2, d_ff=64,
                  steps=20, eval_every=20, eval_size=16, out=str(out))
    values.update(overrides)
    Trainer(TrainConfig(**values)).run()
    return out


def check(run_dir):
    import torch
    from transformers import GPT2LMHeadModel, GPT2TokenizerFast
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    if "char_vocab" in config:
        ours_tok = CharTokenizer.from_config(config)
        ids = ours_tok.encode(PROBE, errors="ignore")
        kind = "char"
    else:
        ours_tok = BPETokenizer.from_pretrained(run_dir)
        ids = ours_tok.encode(PROBE)
        hf_ids = GPT2TokenizerFast.from_pretrained(run_dir)(PROBE)["input_ids"]
        assert hf_ids == ids, f"{run_dir}: token ids differ\n  ours {ids}\n  HF   {hf_ids}"
        kind = "bpe"
    ids = ids[:config["n_positions"]]
    ours = GPT2.from_pretrained(run_dir).forward(np.array([ids]))[0]
    hf = GPT2LMHeadModel.from_pretrained(run_dir).eval()
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits[0].numpy()
    err = float(np.max(np.abs(ours - theirs)))
    assert err < 1e-4, f"{run_dir}: logits differ by {err}"
    print(f"ok  {run_dir.name:10} ({kind}, vocab {config['vocab_size']}): {len(ids)} ids, "
          f"max |logit difference| {err:.2e}")


def main(argv):
    if argv:
        for run_dir in argv:
            check(run_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "text.txt").write_text(TEXT, encoding="utf-8")
        check(train_tiny(tmp / "char"))
        check(train_tiny(tmp / "bpe", tokenizer="bpe", bpe_vocab_size=300))
        check(train_tiny(tmp / "gpt2", tokenizer="gpt2", steps=2, eval_every=2))
        check(train_tiny(tmp / "init", init=str(ROOT / "tests/fixtures/gpt2_tiny/hf_layout"), d_model=32,
                         n_layers=2, n_heads=4, d_ff=128))


if __name__ == "__main__":
    main(sys.argv[1:])
