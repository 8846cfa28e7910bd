"""Token embeddings and the two ways to tell the model where a token is: learned and sinusoidal."""
import math

import numpy as np

from ..core import Module, Parameter, check_float_dtype, check_input
from ..init import make_rng, normal


def check_ids(ids, vocab_size, what="token ids"):
    """Integer ids in [0, vocab_size): anything else is a user error worth a clear message."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{what} must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{what} must be in [0, {vocab_size}), got values in [{ids.min()}, {ids.max()}]")
    return ids


class Embedding(Module):
    """Lookup table: y[b, t] = W[ids[b, t]]

    Shapes: ids (B, T) integers, W (V, C), y (B, T, C).
    Backward: ids are not differentiable; each row used collects its gradient,
        dW[v] += sum over (b, t) with ids[b, t] == v of dY[b, t]        (repeated ids add up)
    Keeps ids.
    Plain twin: the token half of gpt.py `embedding_forward` / `embedding_backward`, which sums repeats
    with np.add.at; here the repeats are summed as sorted runs (np.add.reduceat: the same sums, without
    np.add.at's element-by-element loop), the positions are a layer of their own, and the gradient is
    added into .grad, not returned.
    """

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, rng=None, init_std=0.02):
        self.dtype = check_float_dtype(dtype)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(normal(make_rng(rng), (num_embeddings, embedding_dim), init_std, self.dtype))

    def forward(self, ids):
        self.ids = check_ids(ids, self.num_embeddings)
        return self.weight.data[self.ids]                               # (B, T, C)

    def backward(self, dy):
        # The same sums as np.add.at(grad, ids, dY): repeated ids summed as runs after a sort
        # (np.add.reduceat), then one update per distinct row, because np.add.at loops element by element
        # (how much slower: docs/PERFORMANCE.md, "Training against nanoGPT").
        ids, dy2 = self.ids.reshape(-1), dy.reshape(-1, dy.shape[-1])     # (N,), (N, C)
        if not ids.size:
            return None
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        self.weight.grad[sorted_ids[starts]] += np.add.reduceat(dy2[order], starts, axis=0)
        return None


def position_rows(start, T, max_len):
    """The rows of a (max_len, C) position table for T tokens: start .. start+T-1 as a slice (one shared
    block of rows), or `start` itself when it is a (B, T) array of per-token positions."""
    if np.ndim(start) == 0:
        if start + T > max_len:
            raise ValueError(f"sequence of {start + T} positions exceeds the context window max_len={max_len}")
        return slice(start, start + T)
    positions = np.asarray(start)
    if positions.shape[-1] != T or (positions.size and positions.max() >= max_len):
        raise ValueError(f"positions {positions.shape} must be (B, {T}) and < the context window max_len={max_len}")
    return positions


class LearnedPositionalEmbedding(Module):
    """Adds a learned vector per position: y[b, t] = x[b, t] + P[start + t]   (GPT-2's `wpe`)

    Shapes: x (B, T, C), P (max_len, C), y (B, T, C). `start` is the position of x's first token
    (non-zero when decoding one token at a time with a key/value cache), or a (B, T) array of each
    token's own position (a left-padded batch, whose rows start at different columns).
    Backward: dX = dY;  dP[start + t] += sum_b dY[b, t]   (per-token positions: dP[p[b, t]] += dY[b, t]).
    """

    def __init__(self, max_len, d_model, dtype=np.float32, rng=None, init_std=0.01):
        self.dtype = check_float_dtype(dtype)
        self.max_len = max_len
        self.weight = Parameter(normal(make_rng(rng), (max_len, d_model), init_std, self.dtype))

    def forward(self, x, start=0):
        check_input(x, self.dtype)
        if x.ndim != 3 or x.shape[-1] != self.weight.data.shape[1]:
            raise ValueError(f"positional embedding expects input (B, T, {self.weight.data.shape[1]}), got shape {x.shape}")
        rows = position_rows(start, x.shape[1], self.max_len)        # a slice, or (B, T) positions
        self.rows = rows
        return x + self.weight.data[rows]                              # (B, T, C) + (T, C) or (B, T, C)

    def backward(self, dy):
        if isinstance(self.rows, slice):
            self.weight.grad[self.rows] += dy.sum(axis=0)
        else:
            np.add.at(self.weight.grad, self.rows, dy)                 # positions may repeat (padding)
        return dy


def sinusoidal_table(max_len, d_model, dtype=np.float32):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))   (max_len, d_model)

    Each pair of channels is a rotation at its own frequency, so PE[pos + k] is a linear function of
    PE[pos]: the paper's argument for why attention can learn relative offsets."""
    positions = np.arange(max_len)[:, None]                            # (max_len, 1)
    rates = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)  # (ceil(d/2),)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: d_model // 2])
    return table.astype(dtype)


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal table of "Attention Is All You Need": y = x + PE[start : start + T]

    Shapes: x (B, T, C), PE (max_len, C), y (B, T, C). No parameters.
    Backward: dX = dY (adding a constant).
    """

    buffers = ("table",)            # a constant, not an activation: release_activations keeps it

    def __init__(self, max_len, d_model, dtype=np.float32):
        self.dtype = check_float_dtype(dtype)
        self.max_len = max_len
        self.table = sinusoidal_table(max_len, d_model, self.dtype)

    def forward(self, x, start=0):
        check_input(x, self.dtype)
        if x.ndim != 3 or x.shape[-1] != self.table.shape[1]:
            raise ValueError(f"positional encoding expects input (B, T, {self.table.shape[1]}), got shape {x.shape}")
        return x + self.table[position_rows(start, x.shape[1], self.max_len)]

    def backward(self, dy):
        return dy


class TiedOutputHead(Module):
    """Output projection that reuses the token embedding matrix E (V, C) ("weight tying"):
        logits = x @ E^T                       x (B, T, C) -> logits (B, T, V)
    Backward:  dX = dLogits @ E,   dE += dLogits^T @ X   (added to the embedding's own gradient: E is
    used twice, at the input and here, so it receives the sum of both uses).
    Holds the embedding's Parameter, not a copy, so named_parameters lists it once (as the embedding).
    Plain twin: gpt.py `linear_forward` / `linear_backward` with W = wte^T and no bias (see gpt.py `forward`);
    here one position (decoding) is a matrix-vector product, and dE is added into the embedding's .grad.
    """

    def __init__(self, embedding):
        self.weight = embedding.weight

    def forward(self, x):
        check_input(x, self.weight.data.dtype)
        if x.shape[-1] != self.weight.data.shape[1]:
            raise ValueError(f"output head expects last dimension {self.weight.data.shape[1]}, got input of shape {x.shape}")
        self.x = x
        if x.size == x.shape[-1]:                                      # one position (decoding): gemv
            return (self.weight.data @ x.reshape(-1)).reshape(*x.shape[:-1], -1)
        V, C = self.weight.data.shape                                  # one 2-D gemm (see Linear.forward)
        return (x.reshape(-1, C) @ self.weight.data.T).reshape(*x.shape[:-1], V)   # (B, T, V)

    def backward(self, dlogits):
        V, C = self.weight.data.shape
        self.weight.grad += dlogits.reshape(-1, V).T @ self.x.reshape(-1, C)
        return (dlogits.reshape(-1, V) @ self.weight.data).reshape(*dlogits.shape[:-1], C)   # (B, T, C)
