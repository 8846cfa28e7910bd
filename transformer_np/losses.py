"""Cross-entropy loss with a loss mask, and accuracy."""
import numpy as np

from .layers.embedding import check_ids


class CrossEntropyLoss:
    """Mean negative log-likelihood over the weighted positions.

        log p[n, y_n] = logits[n, y_n] - logsumexp(logits[n, :])      (log-sum-exp: no overflow)
        loss = sum_n w_n * (-log p[n, y_n]) / sum_n w_n
    `weights` is the loss mask of the toy tasks: in `0 a b c 0 c b a` only the answer counts.

    Backward (p = softmax(logits)):  dlogits[n, :] = w_n * (p[n, :] - onehot(y_n)) / sum_n w_n
    Shapes: logits (..., V), targets (...) integers, weights (...) or None (all ones). Keeps p.
    Plain twin: gpt.py `crossentropy_forward` / `crossentropy_backward` (all weights 1); here the loss mask,
    checked targets, and one (..., V) buffer reused in place for shifted logits, log p and p.
    """

    def forward(self, logits, targets, weights=None):
        V = logits.shape[-1]
        targets = check_ids(targets, V, "targets")
        if targets.shape != logits.shape[:-1]:
            raise ValueError(f"targets shape {targets.shape} does not match logits shape {logits.shape[:-1]}")
        weights = np.ones(targets.shape) if weights is None else np.asarray(weights, dtype=np.float64)
        if weights.shape != targets.shape:
            raise ValueError(f"weights shape {weights.shape} does not match targets shape {targets.shape}")
        total_weight = float(weights.sum())
        if total_weight <= 0:
            raise ValueError("loss weights sum to zero: no position is scored")
        shifted = logits - logits.max(axis=-1, keepdims=True)               # (..., V)
        log_z = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        # shifted -> log_probs -> probs in place: one (..., V) buffer instead of three.
        log_probs = np.subtract(shifted, log_z, out=shifted)
        nll = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        self.probs, self.targets = np.exp(log_probs, out=log_probs), targets
        self.scale = (weights / total_weight).astype(logits.dtype)          # w_n / sum w
        return float((nll * weights).sum() / total_weight)

    def backward(self):
        dlogits = self.probs.copy()
        np.put_along_axis(dlogits, self.targets[..., None],
                          np.take_along_axis(dlogits, self.targets[..., None], axis=-1) - 1, axis=-1)
        dlogits *= self.scale[..., None]                                    # in place: our own copy
        return dlogits

    __call__ = forward


def accuracy(logits, targets, weights=None):
    """Fraction of weighted positions where the most likely token is the target."""
    correct = (logits.argmax(axis=-1) == targets).astype(np.float64)
    if weights is None:
        return float(correct.mean())
    weights = np.asarray(weights, dtype=np.float64)
    return float((correct * weights).sum() / weights.sum())
