"""Tiny helpers for writing SVG by hand: escaping, number formatting, colour scales, axis ticks.

Every picture this package makes is a plain text file that opens in any browser, offline: no fonts to
fetch, no scripts from elsewhere. We write the markup ourselves with `xml.sax.saxutils` for escaping.
"""
import math
import os
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

from ..io.atomic import atomic_write_text

FONT = "font-family=\"Helvetica, Arial, sans-serif\""

# Colours for several series (colour-blind friendly, Okabe & Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]


def esc(text):
    """Escape text for an XML text node (&, <, >)."""
    return _escape(str(text))


def attr(text):
    """Escape text for an XML attribute value, quotes included: `title=` + attr(s)."""
    return _quoteattr(str(text), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def num(x, digits=2):
    """Short decimal for coordinates: 12.50 -> '12.5', 3.0 -> '3'."""
    s = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def heat_color(w):
    """Weight in [0, 1] -> a colour from white to dark blue (the heatmaps' scale)."""
    w = min(1.0, max(0.0, float(w)))
    # White (255, 255, 255) to a deep blue (8, 48, 107), passing a mid blue, with a gamma for contrast.
    t = w ** 0.7
    stops = [(255, 255, 255), (107, 174, 214), (8, 48, 107)]
    if t <= 0.5:
        a, b, u = stops[0], stops[1], t / 0.5
    else:
        a, b, u = stops[1], stops[2], (t - 0.5) / 0.5
    r, g, bl = (round(a[i] + (b[i] - a[i]) * u) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def nice_ticks(lo, hi, n=5):
    """About n round tick values covering [lo, hi] (1, 2, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def log_ticks(lo, hi):
    """Powers of ten in [lo, hi] (lo > 0), and 2x / 5x minor ticks when the range is short."""
    if lo <= 0 or hi <= 0:
        return []
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    majors = [10.0 ** k for k in range(k0, k1 + 1) if lo * (1 - 1e-9) <= 10.0 ** k <= hi * (1 + 1e-9)]
    if len(majors) >= 3:
        stride = math.ceil(len(majors) / 7)                 # at most ~7 labels on a long log axis
        return majors[::-1][::stride][::-1]
    mults = (1, 2, 5) if k1 - k0 <= 3 else (1, 3)
    return [m * 10.0 ** k for k in range(k0, k1 + 1) for m in mults if lo * (1 - 1e-9) <= m * 10.0 ** k <= hi * (1 + 1e-9)]


def tick_label(v):
    """Compact tick text: 1000 -> '1000', 20000 -> '20k', 0.001 -> '0.001', 1e-05 -> '1e-05'."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 and float(v / 1000).is_integer():
        return f"{v / 1000:g}k"
    if a >= 1e-3:
        return f"{v:g}"
    mantissa, exponent = f"{v:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def svg_document(width, height, body, title=None):
    """A complete standalone SVG document (with the XML declaration) around `body` markup."""
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width)}" height="{num(height)}" '
            f'viewBox="0 0 {num(width)} {num(height)}" {FONT}>\n')
    t = f"<title>{esc(title)}</title>\n" if title else ""
    return head + t + '<rect width="100%" height="100%" fill="white"/>\n' + body + "</svg>\n"


def write_text(path, text):
    """Write text as UTF-8, creating parent directories; atomically (a reader never sees half a file,
    which matters for curves.svg rewritten while training runs)."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    atomic_write_text(path, text)
    return path


def diverging_color(v):
    """Value in [-1, 1] -> blue (negative) / white (0) / red (positive)."""
    v = min(1.0, max(-1.0, float(v)))
    end = (33, 102, 172) if v < 0 else (178, 24, 43)
    u = abs(v)
    r, g, b = (round(255 + (end[i] - 255) * u) for i in range(3))
    return f"#{r:02x}{g:02x}{b:02x}"


def matrix_svg(matrix, title=None, xlabel="", ylabel="", diverging=True, cell=None, max_abs=None,
               value_label="value", row_labels=None, col_labels=None, digits=None):
    """Any 2-D array as an SVG heatmap (rows top to bottom), e.g. the sinusoidal position table, with
    axis labels and a colour scale on the right (titled `value_label`).
    diverging: blue-white-red around 0 scaled by max |value|; else white-to-blue over [0, max].
    row_labels / col_labels: text per row / column instead of numeric ticks (small tables: tokens,
    channels); digits: also write each value in its cell with that many decimals."""
    import numpy as np
    m = np.asarray(matrix, dtype=np.float64)
    rows, cols = m.shape
    cell = cell or max(3, min(24 if digits is None else 44, 640 // max(rows, cols)))
    scale = max_abs or float(np.abs(m).max()) or 1.0
    label_w = 7 * max((len(str(s)) for s in row_labels), default=0) if row_labels is not None else 0
    left, top = 56 + label_w, 40 if title else 16
    col_label_h = 7 * max((len(str(s)) for s in col_labels), default=0) if col_labels is not None else 0
    top += int(col_label_h * 0.8)
    width, height = max(left + cols * cell + 90, 7 * len(title or "") + 20), top + rows * cell + 40
    out = []
    if title:
        out.append(f'<text x="{num(width / 2)}" y="22" font-size="14" text-anchor="middle" '
                   f'font-weight="bold">{esc(title)}</text>')
    out.append('<g class="matrix" shape-rendering="crispEdges">')
    for r in range(rows):
        for c in range(cols):
            v = m[r, c] / scale
            fill = diverging_color(v) if diverging else heat_color(v)
            out.append(f'<rect x="{left + c * cell}" y="{top + r * cell}" width="{cell}" height="{cell}" '
                       f'fill="{fill}" data-r="{r}" data-c="{c}" data-v="{m[r, c]:.4g}"/>')
    out.append("</g>")
    if digits is not None:
        for r in range(rows):
            for c in range(cols):
                dark = abs(m[r, c]) / scale > 0.6
                out.append(text(left + (c + 0.5) * cell, top + (r + 0.5) * cell + 3.5, f"{m[r, c]:.{digits}f}",
                                9, fill="white" if dark else "#222"))
    if row_labels is not None:
        for r, s in enumerate(row_labels):
            out.append(text(left - 4, top + (r + 0.5) * cell + 4, s, 10, "end"))
    else:
        for t in nice_ticks(0, rows - 1, 5):
            out.append(text(left - 4, top + (t + 0.5) * cell + 4, int(t), 10, "end"))
    if col_labels is not None:
        for c, s in enumerate(col_labels):
            x, y = left + (c + 0.5) * cell + 3, top - 4
            out.append(text(x, y, s, 10, "start", transform=f"rotate(-60 {num(x)} {num(y)})"))
    else:
        for t in nice_ticks(0, cols - 1, 6):
            out.append(text(left + (t + 0.5) * cell, top + rows * cell + 14, int(t), 10))
    lo = -scale if diverging else 0.0
    out.append(color_bar(left + cols * cell + 14, top, min(rows * cell, 240), lo, scale,
                         (lambda v: diverging_color(v / scale)) if diverging else (lambda v: heat_color(v / scale)),
                         value_label))
    out.append(f'<text x="{num(left + cols * cell / 2)}" y="{num(top + rows * cell + 32)}" font-size="12" '
               f'text-anchor="middle">{esc(xlabel)}</text>')
    cy = top + rows * cell / 2
    out.append(f'<text x="16" y="{num(cy)}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 16 {num(cy)})">{esc(ylabel)}</text>')
    return svg_document(width, height, "\n".join(out) + "\n", title=title or "matrix")


# ------------------------------------------------------------------------- shapes for diagrams

ARROW_MARKER = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/>'
                '</marker></defs>')


def text(x, y, content, size=12, anchor="middle", **attrs):
    """One <text> element; extra attributes as keyword arguments (fill="#555", font_weight="bold")."""
    extra = "".join(f' {k.replace("_", "-")}={attr(v)}' for k, v in attrs.items())
    return (f'<text x="{num(x)}" y="{num(y)}" font-size="{size}" text-anchor="{anchor}"{extra}>'
            f'{esc(content)}</text>')


def box(x, y, width, height, fill="#f2f2f2", stroke="#444", radius=6, dash=None, **attrs):
    """A rounded rectangle (no text); dash="5 4" for a dashed outline."""
    extra = "".join(f' {k.replace("_", "-")}={attr(v)}' for k, v in attrs.items())
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{num(x)}" y="{num(y)}" width="{num(width)}" height="{num(height)}" rx="{radius}" '
            f'fill="{fill}" stroke="{stroke}"{dashing}{extra}/>')


def arrow(points, stroke="#444", width=1.4):
    """A polyline through [(x, y), ...] with an arrow head at the end (needs ARROW_MARKER in the document)."""
    d = " ".join(f"{num(x)},{num(y)}" for x, y in points)
    return (f'<polyline points="{d}" fill="none" stroke="{stroke}" stroke-width="{width}" '
            f'marker-end="url(#arrow)"/>')


def color_bar(x, y, height, lo, hi, color_of, label=None, width=12, steps=20, ticks=None):
    """A vertical colour scale from hi (top) to lo (bottom) with tick labels on its right.
    color_of(value) gives the colour; ticks default to round values between lo and hi."""
    out = []
    step_h = height / steps
    for i in range(steps):
        v = hi - (hi - lo) * (i + 0.5) / steps
        out.append(f'<rect x="{num(x)}" y="{num(y + i * step_h)}" width="{width}" height="{num(step_h + 0.5)}" '
                   f'fill="{color_of(v)}"/>')
    out.append(f'<rect x="{num(x)}" y="{num(y)}" width="{width}" height="{num(height)}" fill="none" '
               f'stroke="#888" stroke-width="0.5"/>')
    for t in ticks if ticks is not None else nice_ticks(lo, hi, 4):
        ty = y + (hi - t) / ((hi - lo) or 1) * height
        out.append(f'<line x1="{num(x + width)}" y1="{num(ty)}" x2="{num(x + width + 3)}" y2="{num(ty)}" '
                   f'stroke="#444" stroke-width="0.8"/>')
        out.append(text(x + width + 5, ty + 3.5, tick_label(t), 10, "start"))
    if label:
        cx, cy = x + width + 34, y + height / 2
        out.append(text(cx, cy, label, 11, "middle", transform=f"rotate(90 {num(cx)} {num(cy)})"))
    return "\n".join(out)
