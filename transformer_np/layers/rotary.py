"""Rotary position embeddings (RoPE, Su et al. 2021): position enters attention as a rotation of q and k."""
import numpy as np

from ..core import Module, check_float_dtype, check_input


def rotary_angles(head_dim, max_len, base=10000.0):
    """theta[p, i] = p * base^(-2i / d) for i < d/2, repeated for the second half: (max_len, d), float64.

    Channel i and channel i + d/2 form one pair, rotated together by theta[p, i] (the "rotate_half"
    layout of Hugging Face's Llama; the paper pairs neighbours 2i, 2i+1 instead: the same idea, with
    the channels of W_q and W_k permuted). Low i turn fast, high i slowly: a spectrum of wavelengths.
    """
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)   # (d/2,)
    angles = np.arange(max_len, dtype=np.float64)[:, None] * inv_freq               # (max_len, d/2)
    return np.concatenate([angles, angles], axis=-1)                                 # (max_len, d)


def rotate_half(x):
    """[x1 | x2] -> [-x2 | x1] over the last axis: the 90-degree turn of every (x1[i], x2[i]) pair."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


class RotaryEmbedding(Module):
    """Rotate each (channel i, channel i + d/2) pair of a query or key at position p by the angle theta[p, i]:

        y = x * cos(theta[p]) + rotate_half(x) * sin(theta[p])         x, y (B, H, T, d), p = start + t

    Why it encodes *relative* position: a rotation R(a) satisfies R(a)^T R(b) = R(b - a), so
        (R(theta_i) q) . (R(theta_j) k) = q . R(theta_j - theta_i) k
    depends on the positions only through j - i. Nothing is added to the token embeddings, and
    there are no parameters.

    `start` is the position of the first of the T rows (non-zero when decoding with a key/value cache:
    each new query and key is rotated at its true position before the key enters the cache).
    Backward: a rotation's inverse is its transpose, the rotation by -theta:
        dX = dY * cos(theta[p]) - rotate_half(dY) * sin(theta[p])
    Keeps the cos and sin rows of the last forward's positions (the same for q and k, and for every layer
    of a stack, so one instance serves the whole model).

    The cos and sin tables grow with the positions actually used (doubling, up to max_len): a config with
    `max_position_embeddings: 10**7` costs nothing until a sequence is that long. Every row depends only on
    its own position, so a grown table holds exactly the values a full one would.
    """

    buffers = ("cos", "sin")        # constants, not activations: release_activations keeps them
    _INITIAL_ROWS = 256

    def __init__(self, head_dim, max_len, base=10000.0, dtype=np.float32):
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head_dim, got {head_dim}")
        self.dtype = check_float_dtype(dtype)
        self.head_dim, self.max_len, self.base = head_dim, max_len, float(base)
        self._grow(min(max_len, self._INITIAL_ROWS))

    def _grow(self, rows):
        """cos and sin (rows, d) for positions 0 .. rows - 1."""
        angles = rotary_angles(self.head_dim, rows, self.base)
        self.cos = np.cos(angles).astype(self.dtype)                     # (rows, d)
        self.sin = np.sin(angles).astype(self.dtype)

    def forward(self, x, start=0):
        """x (B, H, T, d). start: the position of the first of the T rows, or each row's own positions
        (B, T) integers (a left-padded batch, where every sequence counts from its first real token)."""
        check_input(x, self.dtype)
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"rotary embedding expects last dimension {self.head_dim}, got shape {x.shape}")
        T = x.shape[-2]
        last = (start + T if np.ndim(start) == 0 else int(np.max(start, initial=0)) + 1)
        if last > self.max_len:
            raise ValueError(f"sequence of {last} positions exceeds the rotary table's max_len={self.max_len}")
        if last > len(self.cos):
            self._grow(min(self.max_len, max(last, 2 * len(self.cos))))
        if np.ndim(start) == 0:
            cos, sin = self.cos[start:start + T], self.sin[start:start + T]   # (T, d), broadcast over B, H
        else:
            cos, sin = self.cos[start][:, None], self.sin[start][:, None]     # (B, 1, T, d), broadcast over H
        self.rotation = cos, sin
        return x * cos + rotate_half(x) * sin

    def backward(self, dy):
        cos, sin = self.rotation
        return dy * cos - rotate_half(dy) * sin
