"""`print(model)`: the layer tree, each parameter's shape, and parameter counts per module and in total.

    GPT2: 124,439,808 parameters (float32, 497.8 MB)
    module / parameter                           shape                 parameters
    wte: Embedding                                                     38,597,376
      weight                                     (50257, 768)          38,597,376
    ...
    h.0: DecoderBlock                                                   7,087,872
      ln_1: LayerNorm                                                       1,536
    ...
    h.1 .. h.11: 11 x DecoderBlock, each as h.0                        77,966,592
    ln_f: LayerNorm                                                         1,536
    ...
    lm_head: TiedOutputHead                                                     0
      weight                                     (50257, 768)  tied to wte.weight
    total                                                             124,439,808

A parameter shared by two modules (the tied output head) is counted once, where `named_parameters` first
meets it; the other place says what it is tied to. Consecutive list items built the same way (the blocks of
a stack) are shown once, then summarised in one line.
"""
from .core import Parameter


def module_summary(module, depth=None):
    """The text of the table above; `depth` is how many levels of modules to show (1: the top level only)."""
    first_name = {id(p): name for name, p in module.named_parameters()}    # each shared Parameter once
    rows = []                                   # (indent, label, shape, count)
    _add_rows(module, "", 0, depth, first_name, rows)
    total = module.num_parameters()
    dtypes = sorted({str(p.dtype) for p in module.parameters()})
    n_bytes = sum(p.data.nbytes for p in module.parameters())
    header = f"{type(module).__name__}: {total:,} parameters ({', '.join(dtypes) or 'no weights'}, " \
             f"{n_bytes / 1e6:.1f} MB)"
    table = [(0, "module / parameter", "shape", "parameters")] + rows
    label_width = max(2 * indent + len(label) for indent, label, _, _ in table) + 2
    shape_width = max(len(shape) for _, _, shape, _ in table) + 2
    count_width = max(len(count) for _, _, _, count in table)
    lines = [header]
    for indent, label, shape, count in table:
        lines.append(f"{'  ' * indent}{label}".ljust(label_width) + shape.ljust(shape_width)
                     + count.rjust(count_width))
    lines.append("total".ljust(label_width + shape_width) + f"{total:,}".rjust(count_width))
    return "\n".join(line.rstrip() for line in lines)


def _own_count(module, path, first_name):
    """Parameters of `module`'s subtree that are counted here (first met inside this subtree)."""
    return sum(p.size for name, p in module.named_parameters(path.rstrip("."))
               if first_name[id(p)] == name)


def _signature(module):
    """What makes two modules the same build: their class and every parameter's name and shape."""
    return type(module).__name__, tuple((name, p.shape) for name, p in module.named_parameters())


def _add_rows(module, path, indent, depth, first_name, rows):
    children = list(module._children())
    i = 0
    while i < len(children):
        name, child = children[i]
        full = path + name
        if isinstance(child, Parameter):
            tied_to = first_name[id(child)]
            count = f"{child.size:,}" if tied_to == full else f"tied to {tied_to}"
            rows.append((indent, name, str(tuple(child.shape)), count))
            i += 1
            continue
        rows.append((indent, f"{name}: {type(child).__name__}", "", f"{_own_count(child, full + '.', first_name):,}"))
        if depth is None or indent + 1 < depth:
            _add_rows(child, full + ".", indent + 1, depth, first_name, rows)
        repeats = _repeats_of(children, i)
        if repeats:
            last_name = children[i + len(repeats)][0]
            count = sum(_own_count(c, path + n + ".", first_name) for n, c in repeats)
            rows.append((indent, f"{repeats[0][0]} .. {last_name}: {len(repeats)} x "
                                 f"{type(child).__name__}, each as {name}", "", f"{count:,}"))
        i += 1 + len(repeats)
    return rows


def _repeats_of(children, i):
    """The run of list items right after children[i] (`h.1`, `h.2`, ... after `h.0`) built like it."""
    name, child = children[i]
    if "." not in name:
        return []
    list_name, signature = name.rsplit(".", 1)[0], _signature(child)
    run = []
    for other_name, other in children[i + 1:]:
        if (isinstance(other, Parameter) or other_name.rsplit(".", 1)[0] != list_name
                or _signature(other) != signature):
            break
        run.append((other_name, other))
    return run
