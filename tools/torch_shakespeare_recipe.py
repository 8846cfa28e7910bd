"""Dev-only: nanoGPT's CPU "baby GPT" recipe trained by PyTorch, as the reference for train_toy.py's.

    .dev/bin/python tools/torch_shakespeare_recipe.py --seeds 0 1 2 [--bias | --no-bias]

The same recipe as docs/TRAINING.md's `train_toy.py --task text` command (character level, first 90% trains,
block 64, batch 12, 4 layers, 4 heads, d_model 128, d_ff 512, 2000 steps, AdamW lr 1e-3, 100 warm-up steps,
cosine to 1e-4, betas (0.9, 0.99), weight decay 0.1 on matrices only, dropout 0, clipping at 1.0), written
as nanoGPT's model.py writes it: exact GELU, N(0, 0.02) init with the residual projections at
0.02 / sqrt(2 n_layer), tied embedding and head, and nanoGPT's default bias=False (no biases in Linear or
LayerNorm; --bias gives GPT-2's). The held-out loss is measured as train_toy.py measures it: on every
non-overlapping 64-character window of the held-out 10%. Prints one JSON line per seed, then a summary:
how far apart seeds land tells how exactly "about 1.88" can be asked of a single run.
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
R = dict(block=64, batch=12, layers=4, heads=4, d_model=128, d_ff=512, steps=2000, lr=1e-3, min_lr=1e-4,
         warmup=100, betas=(0.9, 0.99), weight_decay=0.1, clip=1.0)


class LayerNorm(nn.Module):
    def __init__(self, c, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Block(nn.Module):
    def __init__(self, bias):
        super().__init__()
        C = R["d_model"]
        self.ln_1, self.ln_2 = LayerNorm(C, bias), LayerNorm(C, bias)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C, bias=bias), nn.Linear(C, C, bias=bias)
        self.c_fc, self.mlp_proj = nn.Linear(C, R["d_ff"], bias=bias), nn.Linear(R["d_ff"], C, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, R["heads"], C // R["heads"]).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, bias):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, R["d_model"]), nn.Embedding(R["block"], R["d_model"])
        self.h = nn.ModuleList(Block(bias) for _ in range(R["layers"]))
        self.ln_f = LayerNorm(R["d_model"], bias)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * R["layers"]) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def lr_at(step):
    if step < R["warmup"]:
        return R["lr"] * (step + 1) / (R["warmup"] + 1)
    progress = (step - R["warmup"]) / (R["steps"] - R["warmup"])
    return R["min_lr"] + 0.5 * (1 + math.cos(math.pi * progress)) * (R["lr"] - R["min_lr"])


@torch.no_grad()
def held_out_loss(model, ids):
    block = R["block"]
    n = (len(ids) - 1) // block
    x = torch.from_numpy(ids[:n * block].reshape(n, block))
    y = torch.from_numpy(ids[1:n * block + 1].reshape(n, block))
    total = sum(F.cross_entropy(model(x[i:i + 256]).reshape(-1, model.wte.num_embeddings), y[i:i + 256].reshape(-1),
                                reduction="sum").item() for i in range(0, n, 256))
    return total / (n * block)


def train(seed, bias, data):
    torch.manual_seed(seed)
    chars = sorted(set(data))
    ids = np.searchsorted(np.array(chars), np.array(list(data))).astype(np.int64)
    split = int(0.9 * len(ids))
    train_ids, held = ids[:split], ids[split:]
    model = GPT(len(chars), bias)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": R["weight_decay"]},
                             {"params": other, "weight_decay": 0.0}], lr=R["lr"], betas=R["betas"])
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for step in range(R["steps"]):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        offsets = rng.integers(0, len(train_ids) - R["block"], R["batch"])
        x = torch.from_numpy(np.stack([train_ids[o:o + R["block"]] for o in offsets]))
        y = torch.from_numpy(np.stack([train_ids[o + 1:o + 1 + R["block"]] for o in offsets]))
        loss = F.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), R["clip"])
        opt.step()
    model.eval()
    return dict(seed=seed, bias=bias, held_out_loss=round(held_out_loss(model, held), 4),
                seconds=round(time.perf_counter() - start, 1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=str(DATA))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = Path(a.data).read_text(encoding="utf-8")
    losses = []
    for seed in a.seeds:
        result = train(seed, a.bias, data)
        losses.append(result["held_out_loss"])
        print(json.dumps(result), flush=True)
    print(json.dumps(dict(bias=a.bias, seeds=a.seeds, mean=round(statistics.mean(losses), 4),
                          min=min(losses), max=max(losses),
                          stdev=round(statistics.stdev(losses), 4) if len(losses) > 1 else None)))


if __name__ == "__main__":
    sys.exit(main())
