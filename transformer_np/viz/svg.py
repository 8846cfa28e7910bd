"""Tiny helpers for writing SVG by hand: escaping, number formatting, colour scales, axis ticks.

Every picture this package makes is a plain text file that opens in any browser, offline: no fonts to
fetch, no scripts from elsewhere. We write the markup ourselves with `xml.sax.saxutils` for escaping.
"""
import math
import os
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

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
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def diverging_color(v):
    """Value in [-1, 1] -> blue (negative) / white (0) / red (positive)."""
    v = min(1.0, max(-1.0, float(v)))
    end = (33, 102, 172) if v < 0 else (178, 24, 43)
    u = abs(v)
    r, g, b = (round(255 + (end[i] - 255) * u) for i in range(3))
    return f"#{r:02x}{g:02x}{b:02x}"


def matrix_svg(matrix, title=None, xlabel="", ylabel="", diverging=True, cell=None, max_abs=None):
    """Any 2-D array as an SVG heatmap (rows top to bottom), e.g. the sinusoidal position table.
    diverging: blue-white-red around 0 scaled by max |value|; else white-to-blue over [0, max]."""
    import numpy as np
    m = np.asarray(matrix, dtype=np.float64)
    rows, cols = m.shape
    cell = cell or max(3, min(24, 640 // max(rows, cols)))
    scale = max_abs or float(np.abs(m).max()) or 1.0
    left, top = 56, 40 if title else 16
    width, height = left + cols * cell + 20, top + rows * cell + 40
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
    for t in nice_ticks(0, rows - 1, 5):
        out.append(f'<text x="{left - 4}" y="{num(top + (t + 0.5) * cell + 4)}" font-size="10" '
                   f'text-anchor="end">{int(t)}</text>')
    for t in nice_ticks(0, cols - 1, 6):
        out.append(f'<text x="{num(left + (t + 0.5) * cell)}" y="{num(top + rows * cell + 14)}" '
                   f'font-size="10" text-anchor="middle">{int(t)}</text>')
    out.append(f'<text x="{num(left + cols * cell / 2)}" y="{num(top + rows * cell + 32)}" font-size="12" '
               f'text-anchor="middle">{esc(xlabel)}</text>')
    cy = top + rows * cell / 2
    out.append(f'<text x="16" y="{num(cy)}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 16 {num(cy)})">{esc(ylabel)}</text>')
    return svg_document(width, height, "\n".join(out) + "\n", title=title or "matrix")
