"""A PyTorch twin of nanoGPT's model and training loop, for bench/train_text.py (dev-only: needs torch).

Written here after nanoGPT's model.py and train.py (karpathy/nanoGPT), to time the peer the README's text
command is measured against without a checkout of it. What it keeps from nanoGPT:
    model   CausalSelfAttention with F.scaled_dot_product_attention(is_causal=True), the MLP
            c_fc -> nn.GELU() (the exact erf form) -> c_proj, pre-LN blocks, tied wte / lm_head, normal(0.02)
            init with c_proj scaled by 1/sqrt(2 n_layer); biases on (train_toy.py's model has them; nanoGPT's
            Shakespeare config has bias=False), dropout 0 (the CPU recipe's --dropout=0.0)
    optim   configure_optimizers: decay the >= 2-D tensors only, torch.optim.AdamW with no fused/foreach
            argument (nanoGPT asks for fused=True on CUDA only; on the CPU PyTorch then picks its per-tensor
            loop), betas (0.9, 0.99), weight decay 0.1, gradient clipping at 1.0
    loop    get_batch (random windows stacked into int64 tensors), warm-up then cosine learning rate,
            estimate_loss (eval_iters batches of the train and the held-out split, in eval mode, no grad) every
            eval_interval iterations, starting at iteration 0, a checkpoint (model + optimizer) whenever the
            held-out estimate improves, zero_grad(set_to_none=True), and per-iteration time dt measured
            as train.py does: from one iteration's end to the next (an evaluation falls inside an iteration)
What differs: the data is the text file split 90/10 in memory as train_toy.py splits it (nanoGPT's
prepare.py writes uint16 .bin files, its get_batch memory-maps them); the run stops after `steps`
iterations (nanoGPT runs max_iters + 1); at the end the whole held-out split is scored in consecutive
windows exactly as train_toy.py's last evaluation does, so the two held-out losses compare.

    .dev/bin/python bench/nanogpt_twin.py --data input.txt --steps 2000 --threads 2      # prints JSON
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                               # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=True)   # (B, H, T, d_k)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.c_fc, self.gelu, self.c_proj = nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.mlp = MLP(d_model, d_ff)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layers, n_heads, d_model, d_ff):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, d_model), nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(0.0)
        self.h = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight                                  # tied
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, p in self.named_parameters():                               # residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers))

    def forward(self, idx, targets):
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(idx.shape[1])))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def configure_optimizer(model, lr, betas, weight_decay):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)                       # CPU: no fused argument


def learning_rate(it, max_lr, warmup, decay_steps, min_lr):
    if it < warmup:
        return max_lr * (it + 1) / (warmup + 1)
    if it > decay_steps:
        return min_lr
    ratio = (it - warmup) / (decay_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def load_text(path, heldout_fraction=0.1):
    """Character ids (uint16, as nanoGPT's prepare.py stores them), split as train_toy.py splits the text."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = np.array([stoi[c] for c in text], dtype=np.uint16)
    n_heldout = int(len(ids) * heldout_fraction)
    return ids[:-n_heldout], ids[-n_heldout:], len(stoi)


def get_batch(data, block_size, batch_size):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss(model, splits, eval_iters, block_size, batch_size):
    model.eval()
    out = {}
    for name, data in splits.items():
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            losses[k] = model(*get_batch(data, block_size, batch_size))[1].item()
        out[name] = losses.mean().item()
    model.train()
    return out


@torch.no_grad()
def heldout_loss(model, heldout, block_size, batch_size):
    """Mean loss over every held-out token, in consecutive non-overlapping windows (train_toy.py's)."""
    model.eval()
    starts = np.arange(0, len(heldout) - block_size, block_size)
    total = 0.0
    for i in range(0, len(starts), batch_size):
        idx = starts[i:i + batch_size, None] + np.arange(block_size + 1)
        seq = torch.from_numpy(heldout[idx].astype(np.int64))
        inputs, targets = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
        total += model(inputs, targets)[1].item() * targets.numel()
    model.train()
    return total / (len(starts) * block_size)


def build(a, vocab_size):
    torch.manual_seed(a.seed)
    model = GPT(vocab_size, a.block_size, a.n_layers, a.n_heads, a.d_model, 4 * a.d_model)
    return model, configure_optimizer(model, a.lr, (0.9, 0.99), 0.1)


def train_step(model, optimizer, x, y, lr, clip=1.0):
    """One iteration's work, as train.py's loop body runs it (gradient accumulation 1)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def run(a):
    """nanoGPT's train.py loop on the recipe; returns per-iteration times, held-out losses, timings."""
    t_start = time.perf_counter()
    train_ids, heldout_ids, vocab_size = load_text(a.data)
    model, optimizer = build(a, vocab_size)
    splits = {"train": train_ids, "val": heldout_ids}
    best_val, evals, dts = 1e9, [], []
    out_dir = tempfile.mkdtemp(prefix="nanogpt_twin.")
    x, y = get_batch(train_ids, a.block_size, a.batch_size)
    t0 = time.perf_counter()
    for it in range(a.steps + 1):
        lr = learning_rate(it, a.lr, a.warmup, a.steps, a.lr * 0.1)
        if it % a.eval_interval == 0:
            losses = estimate_loss(model, splits, a.eval_iters, a.block_size, a.batch_size)
            evals.append({"iter": it, **losses})
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
            if losses["val"] < best_val:
                best_val = losses["val"]
                if it > 0:
                    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iter_num": it,
                                "best_val_loss": best_val}, os.path.join(out_dir, "ckpt.pt"))
        if it == a.steps:
            break
        loss = train_step(model, optimizer, x, y, lr)
        x, y = get_batch(train_ids, a.block_size, a.batch_size)          # the next batch, as train.py
        t1 = time.perf_counter()
        dts.append(t1 - t0)
        t0 = t1
        print(f"iter {it}: loss {loss.item():.4f}, time {dts[-1] * 1000:.2f}ms", flush=True)
    t_loop = time.perf_counter()
    final = heldout_loss(model, heldout_ids, a.block_size, a.batch_size)
    t_end = time.perf_counter()
    for name in os.listdir(out_dir):
        os.unlink(os.path.join(out_dir, name))
    os.rmdir(out_dir)
    return {"ms_per_iter_median": round(float(np.median(dts)) * 1e3, 3), "iterations": len(dts),
            "loop_s": round(t_loop - t_start, 3), "final_eval_s": round(t_end - t_loop, 3),
            "heldout_loss": final, "estimates": evals, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--seed", type=int, default=1337)
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    torch.set_num_threads(args.threads)
    with open(os.devnull, "w") as log, open(sys.stdout.fileno(), "w", closefd=False) as stdout:
        sys.stdout = log                                    # the per-iteration log lines, as train.py prints them
        result = run(args)
        sys.stdout = stdout
        print(json.dumps(result), flush=True)
