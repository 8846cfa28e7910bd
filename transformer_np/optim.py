"""Optimisers with handwritten updates, gradient clipping and the learning-rate schedule.

All hyper-parameters are Python floats: a NumPy float64 scalar would silently upcast float32 weights.
"""
import math

import numpy as np


def _param_groups(params, weight_decay):
    """Accept a list of Parameters or of {"params": [...], "weight_decay": x} groups."""
    params = list(params)
    if params and isinstance(params[0], dict):
        return [dict(g, weight_decay=float(g.get("weight_decay", weight_decay))) for g in params]
    return [{"params": params, "weight_decay": float(weight_decay)}]


def decay_groups(named_parameters, weight_decay):
    """nanoGPT's rule: decay matrices (ndim >= 2), not biases and LayerNorm gains."""
    named = list(named_parameters)
    return [{"params": [p for _, p in named if p.data.ndim >= 2], "weight_decay": float(weight_decay)},
            {"params": [p for _, p in named if p.data.ndim < 2], "weight_decay": 0.0}]


class Optimizer:
    def __init__(self, params, lr, weight_decay):
        self.groups = _param_groups(params, weight_decay)
        self.lr = float(lr)
        self.state = {}                        # id(param) -> per-parameter arrays
        self.step_count = 0
        self._scratch = {}                     # (shape, dtype) -> a work array the updates reuse

    def scratch(self, like):
        """A work array shaped like `like`, shared by same-shaped parameters: the update's temporaries
        go there instead of into fresh arrays (a new multi-megabyte array costs page faults)."""
        key = (like.shape, like.dtype)
        if key not in self._scratch:
            self._scratch[key] = np.empty_like(like)
        return self._scratch[key]

    def parameters(self):
        return [p for g in self.groups for p in g["params"]]

    def zero_grad(self):
        """Zero every gradient in place (no new arrays: the layers add into them)."""
        for p in self.parameters():
            if p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype:
                p.grad.fill(0)
            else:
                p.grad = np.zeros(p.data.shape, dtype=p.data.dtype)

    def step(self):
        self.step_count += 1
        for group in self.groups:
            for p in group["params"]:
                self.update(p, group["weight_decay"])

    def state_dict(self):
        """Per-parameter state as a list in parameter order (ids are not stable across processes)."""
        return {"step_count": self.step_count, "lr": self.lr,
                "state": [self.state.get(id(p), {}) for p in self.parameters()]}

    def load_state_dict(self, saved):
        self.step_count, self.lr = int(saved["step_count"]), float(saved["lr"])
        for p, s in zip(self.parameters(), saved["state"]):
            if s:
                self.state[id(p)] = {k: np.array(v, dtype=p.data.dtype) for k, v in s.items()}


class SGD(Optimizer):
    """v = momentum * v + (g + wd * w);   w -= lr * v          (plain SGD when momentum = 0)"""

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)

    def update(self, p, weight_decay):
        g = p.grad + weight_decay * p.data if weight_decay else p.grad
        if self.momentum:
            state = self.state.setdefault(id(p), {"velocity": np.zeros_like(p.data)})
            state["velocity"] *= self.momentum
            state["velocity"] += g
            g = state["velocity"]
        p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), with optional L2 penalty added to the gradient (coupled weight decay):

        g = grad + wd * w
        m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
        m^ = m / (1 - b1^t)              v^ = v / (1 - b2^t)
        w -= lr * m^ / (sqrt(v^) + eps)
    Plain twin (AdamW): gpt.py `adamw_step`; here every pass writes into m, v, the weights or one reused
    scratch array, because three fresh arrays per parameter per step cost page faults, not just copying.
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2, self.eps = float(betas[0]), float(betas[1]), float(eps)

    def update(self, p, weight_decay):
        g = p.grad
        if weight_decay and not self.decoupled:
            g = g + weight_decay * p.data
        state = self.state.setdefault(id(p), {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)})
        m, v, work = state["m"], state["v"], self.scratch(p.data)
        # The same formulas, in place: every pass writes into m, v, the weights or one reused work array.
        m *= self.beta1
        m += np.multiply(g, 1.0 - self.beta1, out=work)                 # m = b1 m + (1 - b1) g
        v *= self.beta2
        np.multiply(g, g, out=work)
        work *= 1.0 - self.beta2
        v += work                                                       # v = b2 v + (1 - b2) g^2
        t = self.step_count
        m_hat_scale = 1.0 / (1.0 - self.beta1 ** t)
        v_hat_scale = 1.0 / (1.0 - self.beta2 ** t)
        if weight_decay and self.decoupled:
            p.data *= 1.0 - self.lr * weight_decay                      # w -= lr wd w
        np.sqrt(v, out=work)
        work *= math.sqrt(v_hat_scale)                                  # sqrt(v^) = sqrt(v) sqrt(1 / (1 - b2^t))
        work += self.eps
        np.divide(m, work, out=work)
        work *= self.lr * m_hat_scale
        p.data -= work                                                  # w -= lr m^ / (sqrt(v^) + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): the decay shrinks the weights directly,
    w -= lr * wd * w, instead of passing through m and v, where Adam's scaling would weaken it."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


def clip_grad_norm(params, max_norm):
    """Scale all gradients by min(1, max_norm / ||g||) where ||g|| is the norm of all of them together.
    Returns the norm before clipping (worth logging: spikes show instability).
    Plain twin: gpt.py `clip_gradients`; here scaled in place, and returning the norm for the training log."""
    params = list(params)
    # vdot: one pass, no squared copy (float64 gradients accumulate in float64, float32 ones in float32,
    # whose rounding is far below what matters for a clipping threshold).
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    if total > max_norm > 0:
        scale = max_norm / (total + 1e-6)
        for p in params:
            p.grad *= scale
    return total


def warmup_cosine(step, max_lr, warmup_steps, total_steps, min_lr=0.0):
    """The learning rate of update number step + 1 (step counts the updates already made, from 0).

    Warm-up: a linear ramp that reaches max_lr at the last warm-up step, lr = max_lr * (step + 1) / W for
    step < W = warmup_steps, so the very first update already uses max_lr / W (not 0). Then a cosine decay
    from max_lr (at step W) to min_lr at total_steps, and min_lr after it.

    Why warm up: Adam's second-moment estimate is poor for the first steps, so large steps then are risky.
    Plain twin: gpt.py `learning_rate` (the same formula; this one also holds min_lr past total_steps).
    """
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
