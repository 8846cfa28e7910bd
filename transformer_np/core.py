"""The protocol every layer, block and model follows: `Parameter` and `Module`.

A Module computes `forward(*inputs)` and keeps exactly what its backward pass needs; `backward(grad_out)`
returns the gradient(s) with respect to its inputs and *accumulates* (+=) into each parameter's `.grad`.
Accumulation is what makes shared weights (a tied embedding/head) and residual fan-out correct without
special cases: every use of a tensor adds its share of the gradient.
"""
import numpy as np

DEFAULT_DTYPE = np.float32
FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def check_float_dtype(dtype):
    """Return `np.dtype(dtype)` if it is a floating type we compute in, else raise TypeError."""
    dtype = np.dtype(dtype)
    if dtype.type not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float16, float32 or float64, got {dtype}")
    return dtype


def check_input(x, dtype, name="input"):
    """Reject arrays whose dtype differs from the layer's: mixing float32 and float64 silently upcasts
    (and makes BLAS copy the weights on every call), so we make it an error instead."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the layer computes in {dtype}; "
                        f"convert with x.astype(np.{dtype})")
    return x


class Parameter:
    """A trainable array `data` and its gradient `grad` (same shape and dtype).

    `grad` is allocated the first time it is read: an inference-only model (GPT-2 loaded from disk)
    then holds one copy of its weights, not two.
    """

    __slots__ = ("data", "_grad")

    def __init__(self, data):
        self.data = data
        self._grad = None

    @property
    def grad(self):
        if self._grad is None:
            self._grad = np.zeros(self.data.shape, dtype=self.data.dtype)
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: parameter discovery by attribute path, train/eval mode, zero_grad.

    Parameters are found by walking the instance attributes in the order they were assigned:
    a `Parameter`, a `Module`, or a list/tuple of Modules (named by index, as in `h.0.attn`).
    Attributes whose names start with `_` are private views and are not walked.
    """

    training = True
    buffers = ()    # names of array attributes that are state, not saved activations (see release_activations)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: most often a backward whose forward's saved arrays are
        # missing (no forward yet, or released by generation), so say that instead of a bare name.
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r} (if it is an array that forward "
                             f"saves for backward: run forward first; generation releases them)")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def _children(self):
        """Yield (name, child) for direct Parameters and Modules, in assignment order."""
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix=""):
        """Yield (dotted_name, Parameter), each Parameter once (a tied weight keeps its first name)."""
        seen = set()

        # Depth-first in assignment order, so names come out as a reader sees them in the code.
        def walk(path, module):
            for name, child in module._children():
                full = f"{path}{name}"
                if isinstance(child, Parameter):
                    if id(child) not in seen:
                        seen.add(id(child))
                        yield full, child
                else:
                    yield from walk(full + ".", child)
        yield from walk(prefix + "." if prefix else "", self)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        """Yield this module and every sub-module once."""
        seen = set()

        def walk(module):
            if id(module) in seen:
                return
            seen.add(id(module))
            yield module
            for _, child in module._children():
                if isinstance(child, Module):
                    yield from walk(child)
        yield from walk(self)

    def release_activations(self):
        """Forget the arrays that forward kept for backward, here and in every sub-module.

        Generation never runs backward. Dropping each block's saved inputs as soon as the block is done
        keeps a long prompt's activations from piling up across the stack (memory for one block's
        activations instead of n_layers blocks'). Any ndarray attribute
        is an activation except those a class names in `buffers`; parameters live in `Parameter`s.
        A backward pass after this fails: its inputs are gone.
        """
        for module in self.modules():
            for name, value in list(vars(module).items()):
                if isinstance(value, np.ndarray) and name not in module.buffers:
                    delattr(module, name)

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    def summary(self, depth=None):
        """Print the layer tree: every parameter's shape, parameter counts per module and in total
        (`depth` limits the levels shown). `print(model)` prints the same table."""
        print(self.summary_text(depth))

    def summary_text(self, depth=None):
        from .summary import module_summary      # the table's layout lives with its own docs
        return module_summary(self, depth)

    def __repr__(self):
        return self.summary_text()

    def zero_grad(self):
        for p in self.parameters():
            p.grad = np.zeros(p.data.shape, dtype=p.data.dtype)

    def train(self, mode=True):
        """Training mode: dropout is active. Returns self."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        """Evaluation mode: dropout is the identity. Returns self."""
        return self.train(False)

    def state_dict(self):
        """name -> array (the arrays themselves, not copies)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, arrays, strict=True, source=None):
        """Copy arrays into the parameters by name, checking shapes; casts to each parameter's dtype.

        Nothing is copied unless everything fits: a missing (with strict), unexpected (with strict) or
        misshapen tensor raises one StateDictError line naming the first of each kind (and `source`,
        e.g. the checkpoint file, when given)."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in arrays] if strict else []
        unexpected = [n for n in arrays if n not in params] if strict else []
        misshapen = [n for n, p in params.items() if n in arrays and np.shape(arrays[n]) != p.data.shape]
        problems = [_first("missing", missing), _first("unexpected", unexpected)]
        if misshapen:
            name = misshapen[0]
            more = f" (+{len(misshapen) - 1} more)" if len(misshapen) > 1 else ""
            problems.append(f"tensor {name!r}: shape {np.shape(arrays[name])} does not match the model's "
                            f"{params[name].data.shape}{more}")
        problems = [p for p in problems if p]
        if problems:
            raise StateDictError((f"{source}: " if source is not None else "") + "state dict does not fit the "
                                 "model: " + "; ".join(problems))
        for name, p in params.items():
            if name in arrays:
                p.data = np.asarray(arrays[name]).astype(p.data.dtype, copy=False)


def _first(kind, names):
    """'missing tensor 'a' (+3 more)', or '' for no names."""
    if not names:
        return ""
    return f"{kind} tensor {names[0]!r}" + (f" (+{len(names) - 1} more)" if len(names) > 1 else "")


class StateDictError(ValueError, KeyError):
    """Tensors that do not fit a model's parameters (missing, unexpected or misshapen). A ValueError for
    callers that catch bad input, and a KeyError as load_state_dict raised before; str() is the message
    (a KeyError would print it quoted)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""
