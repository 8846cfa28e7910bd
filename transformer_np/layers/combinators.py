"""Combinators in the spirit of Trax: build layers out of layers instead of subclassing.

Data flows as in Trax's `Serial`: a layer that returns a tuple hands its items to the next layer as
separate inputs, and a layer with several inputs returns a tuple of input gradients in `backward`.
`viz.dataflow_svg(layer)` draws any composition as data flow (notebook 3, section 3.6).
"""
from ..core import Module


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


class Identity(Module):
    """y = x;  dX = dY."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class Add(Module):
    """y = a + b;  dA = dY, dB = dY (addition copies the gradient to both summands)."""

    def forward(self, a, b):
        return a + b

    def backward(self, dy):
        return dy, dy


class Sequential(Module):
    """y = f_n(... f_2(f_1(x)))  (Trax's Serial).

    Backward applies the layers' backward passes in reverse order: dX = f_1'(... f_n'(dY)).
    """

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, *inputs):
        outputs = inputs
        for layer in self.layers:
            outputs = layer.forward(*_as_tuple(outputs))
        return outputs

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy


class Branch(Module):
    """Copies its input to parallel sublayers: y = (f_1(x), ..., f_n(x)).

    Backward: x fanned out to n places, so its gradient is the sum of what comes back from each:
        dX = f_1'(dY_1) + ... + f_n'(dY_n)
    """

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        return tuple(layer.forward(x) for layer in self.layers)

    def backward(self, grads):
        if len(grads) != len(self.layers):
            raise ValueError(f"Branch has {len(self.layers)} outputs but got {len(grads)} gradients")
        total = None
        for layer, g in zip(self.layers, grads):
            dx = layer.backward(g)
            total = dx if total is None else total + dx
        return total


class Residual(Module):
    """y = x + f(x), built as Sequential(Branch(Identity, f), Add) exactly as Trax builds it.

    Backward: dX = dY + f'(dY): the Identity branch is the gradient "highway" that lets deep stacks train.
    """

    def __init__(self, layer):
        self.layer = layer
        self._pipeline = Sequential(Branch(Identity(), layer), Add())

    def forward(self, x):
        return self._pipeline.forward(x)

    def backward(self, dy):
        return self._pipeline.backward(dy)


class CausalAttention(Module):
    """Self-attention with the causal mask always on (Trax's CausalAttention): y = attention(x, causal=True).

    Shapes: x, y (B, T, C). Backward is the wrapped attention's (dX from dY, its parameters' .grad added);
    the equations are MultiHeadAttention's. Combinators pass arrays only, so this adapter fixes the one
    option a decoder's attention needs; the parameters stay the wrapped layer's (named `attn.*` here).
    """

    def __init__(self, attention):
        self.attn = attention

    def forward(self, x):
        return self.attn.forward(x, causal=True)

    def backward(self, dy):
        return self.attn.backward(dy)
