"""Combinators drawn as data flow: every layer a box with its input ports on the left and its output
ports on the right, data moving left to right.

    svg = dataflow_svg(Sequential(Linear(4, 8), ReLU()))       # Trax's Serial: one box after another
    svg = dataflow_svg(Branch(f, g, h))                         # one input copied to three layers: 3 outputs
    svg = dataflow_svg(Residual(f))                             # Sequential(Branch(Identity, f), Add)

A dashed frame is a combinator, labelled with its name; a grey box is a layer, labelled with its class
(a layer whose forward takes two arrays, like Add, has two input ports). A Residual is drawn as what it
is built from, so the picture shows where the `x +` comes from. Layout is computed bottom-up: each layer
reports its size and the heights of its ports, and its parent places it and joins the ports with arrows.
"""
import inspect

from ..layers.combinators import Branch, Residual, Sequential
from .svg import ARROW_MARKER, arrow, box, num, svg_document, text

BOX_H, PORT_GAP, PAD, LABEL_H, H_GAP, V_GAP, EDGE = 40, 20, 12, 18, 34, 14, 22
CHAR_W = 7.0                                   # width of a 12 px Helvetica character, roughly
LAYER_FILL = "#eeeeee"
FRAME_COLORS = {"Sequential": "#0072B2", "Branch": "#D55E00", "Residual": "#009E73"}


class _Placed:
    """A laid-out layer: its size, the heights of its input and output ports (from its top), and
    draw(x, y) -> SVG markup with its top-left corner at (x, y)."""

    def __init__(self, width, height, ins, outs, draw, is_box=False):
        self.width, self.height, self.ins, self.outs, self.draw = width, height, ins, outs, draw
        self.is_box = is_box              # wires into a box end in an arrow head; into a frame, they go on


def layer_label(layer):
    """A box's text: the class name; an adapter around one layer (e.g. CausalAttention) adds nothing."""
    return type(layer).__name__


def n_inputs(layer):
    """How many arrays a layer's forward takes: its positional parameters without defaults (at least 1)."""
    params = inspect.signature(layer.forward).parameters.values()
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return max(1, len(required))


def _ports(height, n):
    return [height * (i + 1) / (n + 1) for i in range(n)]


def _wire(points, head):
    """A line through points, with an arrow head at the end when it enters a box."""
    if head:
        return arrow(points)
    d = " ".join(f"{num(x)},{num(y)}" for x, y in points)
    return f'<polyline points="{d}" fill="none" stroke="#444" stroke-width="1.4"/>'


def _elbow(x1, y1, x2, y2, head):
    """A wire from (x1, y1) to (x2, y2), bending halfway when the heights differ."""
    if abs(y1 - y2) < 0.5:
        return _wire([(x1, y1), (x2, y2)], head)
    mid = (x1 + x2) / 2
    return _wire([(x1, y1), (mid, y1), (mid, y2), (x2, y2)], head)


def _leaf(layer):
    label, n_in = layer_label(layer), n_inputs(layer)
    width, height = max(90.0, CHAR_W * len(label) + 24), max(BOX_H, PORT_GAP * (n_in + 1))
    ins, outs = _ports(height, n_in), [height / 2]

    def draw(x, y):
        dots = [f'<circle cx="{num(x)}" cy="{num(y + p)}" r="2.5" fill="#444"/>' for p in ins]
        dots += [f'<circle cx="{num(x + width)}" cy="{num(y + p)}" r="2.5" fill="#444"/>' for p in outs]
        return [box(x, y, width, height, fill=LAYER_FILL), text(x + width / 2, y + height / 2 + 4, label, 12),
                *dots]
    return _Placed(width, height, ins, outs, draw, is_box=True)


def _frame(name, x, y, width, height):
    color = FRAME_COLORS.get(name, "#555")
    return [box(x, y, width, height, fill="none", stroke=color, dash="6 4"),
            text(x + 8, y + 14, name, 12, "start", fill=color, font_weight="bold")]


def _sequential(layers, name="Sequential"):
    """Children left to right; each one's outputs feed the next one's inputs, in order."""
    kids = [layout(layer) for layer in layers]
    inner_h = max(k.height for k in kids)
    width = 2 * EDGE + sum(k.width for k in kids) + H_GAP * (len(kids) - 1)
    height = inner_h + 2 * PAD + LABEL_H
    tops = [LABEL_H + PAD + (inner_h - k.height) / 2 for k in kids]
    lefts = [EDGE + sum(k.width + H_GAP for k in kids[:i]) for i in range(len(kids))]

    def draw(x, y):
        out = _frame(name, x, y, width, height)
        for kid, left, top in zip(kids, lefts, tops):
            out += kid.draw(x + left, y + top)
        for port in kids[0].ins:                                   # the frame's inputs
            out.append(_wire([(x, y + tops[0] + port), (x + EDGE, y + tops[0] + port)], kids[0].is_box))
        for a, b, la, lb, ta, tb in zip(kids, kids[1:], lefts, lefts[1:], tops, tops[1:]):
            for pa, pb in zip(a.outs, b.ins):
                out.append(_elbow(x + la + a.width, y + ta + pa, x + lb, y + tb + pb, b.is_box))
        for port in kids[-1].outs:                                 # and its outputs
            out.append(_wire([(x + lefts[-1] + kids[-1].width, y + tops[-1] + port),
                              (x + width, y + tops[-1] + port)], False))
        return out
    return _Placed(width, height, [tops[0] + p for p in kids[0].ins], [tops[-1] + p for p in kids[-1].outs], draw)


def _branch(layers):
    """Children top to bottom; the one input is copied to each; their outputs, in order, are the outputs."""
    kids = [layout(layer) for layer in layers]
    inner_w = max(k.width for k in kids)
    width = 2 * EDGE + inner_w + EDGE
    height = LABEL_H + 2 * PAD + sum(k.height for k in kids) + V_GAP * (len(kids) - 1)
    tops = [LABEL_H + PAD + sum(k.height + V_GAP for k in kids[:i]) for i in range(len(kids))]
    fork = (LABEL_H + height) / 2
    outs = [top + p for kid, top in zip(kids, tops) for p in kid.outs]

    def draw(x, y):
        out = _frame("Branch", x, y, width, height)
        out.append(f'<circle cx="{num(x + EDGE)}" cy="{num(y + fork)}" r="3" fill="#444"/>')
        out.append(f'<line x1="{num(x)}" y1="{num(y + fork)}" x2="{num(x + EDGE)}" y2="{num(y + fork)}" '
                   f'stroke="#444" stroke-width="1.4"/>')
        for kid, top in zip(kids, tops):
            left = 2 * EDGE + (inner_w - kid.width) / 2
            out += kid.draw(x + left, y + top)
            for port in kid.ins:                                   # the copy of the input
                out.append(_wire([(x + EDGE, y + fork), (x + EDGE, y + top + port), (x + left, y + top + port)],
                                 kid.is_box))
            for port in kid.outs:
                out.append(_wire([(x + left + kid.width, y + top + port), (x + width, y + top + port)], False))
        return out
    return _Placed(width, height, [fork], outs, draw)


def layout(layer):
    """The _Placed drawing of a layer: combinators recursively, any other layer as one box."""
    if isinstance(layer, Residual):
        return _sequential(layer._pipeline.layers, name="Residual")     # Sequential(Branch(Identity, f), Add)
    if isinstance(layer, Sequential):
        return _sequential(layer.layers)
    if isinstance(layer, Branch):
        return _branch(layer.layers)
    return _leaf(layer)


def dataflow_svg(layer, title=None, inputs=None, outputs=None):
    """SVG of a layer (a combinator tree) as data flow. inputs / outputs: names written at the outer ports
    (default x, or x1, x2, ...; y, or y1, y2, ...)."""
    placed = layout(layer)
    inputs = inputs or (["x"] if len(placed.ins) == 1 else [f"x{i + 1}" for i in range(len(placed.ins))])
    outputs = outputs or (["y"] if len(placed.outs) == 1 else [f"y{i + 1}" for i in range(len(placed.outs))])
    left, top, lead = 20 + CHAR_W * max(map(len, inputs)), 44 if title else 14, 30
    x0, right_w = left + lead, lead + 14 + CHAR_W * max(map(len, outputs))
    parts = [ARROW_MARKER, *placed.draw(x0, top)]
    for name, port in zip(inputs, placed.ins):
        parts += [_wire([(left, top + port), (x0, top + port)], placed.is_box),
                  text(left - 6, top + port + 4, name, 13, "end")]
    for name, port in zip(outputs, placed.outs):
        end = x0 + placed.width + lead
        parts += [arrow([(x0 + placed.width, top + port), (end, top + port)]),
                  text(end + 6, top + port + 4, name, 13, "start")]
    width = max(x0 + placed.width + right_w + 10, CHAR_W * 1.2 * len(title or "") + 20)
    if title:
        parts.insert(1, text(width / 2, 24, title, 14, font_weight="bold"))
    return svg_document(width, top + placed.height + 16, "\n".join(parts) + "\n", title=title or "data flow")
