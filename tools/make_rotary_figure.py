"""Make the rotary-embedding figures of docs/GUIDE.md (section "GPT-2 -> Llama") from the library's own layer.

    python tools/make_rotary_figure.py

Figures (into docs/figures/):
    rotary_pairs.svg    one query vector rotated at positions 0..12 by RotaryEmbedding (head_dim 8, base
                        10000): each channel pair (i, i + 4) is a clock hand turning at its own speed
    rotary_scores.svg   q_i . k_j for one q and one k rotated to every position: constant along each diagonal,
                        i.e. a function of the offset j - i only
"""
import math
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from transformer_np.layers import RotaryEmbedding  # noqa: E402
from transformer_np.viz import svg  # noqa: E402

FIG = os.path.join(ROOT, "docs", "figures")
HEAD_DIM, POSITIONS, BASE = 8, 13, 10000.0


def at_every_position(vector, n_positions, rope):
    """The vector rotated as if it sat at positions 0..n-1: (n, d)."""
    return rope(np.broadcast_to(vector, (1, 1, n_positions, vector.size)).copy())[0, 0]


def position_color(p, n):
    """Light (position 0) to dark blue (the last position)."""
    return svg.heat_color(0.15 + 0.85 * p / max(n - 1, 1))


def pairs_figure():
    rope = RotaryEmbedding(HEAD_DIM, POSITIONS, BASE, dtype=np.float64)
    q = np.array([1.0, 0.8, 0.6, 0.9, 0.0, 0.5, 0.7, 0.3])
    rotated = at_every_position(q, POSITIONS, rope)                       # (13, 8)
    half, radius, gap, top = HEAD_DIM // 2, 70, 190, 70
    width, height = half * gap + 20, top + 2 * radius + 90
    out = [svg.ARROW_MARKER,
           svg.text(width / 2, 24, f"RoPE: one query at positions 0..{POSITIONS - 1} (head_dim {HEAD_DIM}, base "
                    f"{BASE:g})", 14, font_weight="bold"),
           svg.text(width / 2, 44, "pair i = channels (i, i + d/2) turns by p * base^(-2i/d) at position p",
                    12, fill="#555")]
    for i in range(half):
        cx, cy = 20 + gap * i + gap / 2 - 10, top + radius + 10
        rate = BASE ** (-2 * i / HEAD_DIM)
        norm = math.hypot(q[i], q[i + half])
        scale = radius / norm
        out.append(f'<circle cx="{svg.num(cx)}" cy="{svg.num(cy)}" r="{radius}" fill="none" stroke="#bbb"/>')
        out.append(f'<line x1="{svg.num(cx - radius - 6)}" y1="{svg.num(cy)}" x2="{svg.num(cx + radius + 6)}" '
                   f'y2="{svg.num(cy)}" stroke="#ddd"/>')
        for p in range(POSITIONS):
            x, y = cx + scale * rotated[p, i], cy - scale * rotated[p, i + half]
            out.append(f'<circle cx="{svg.num(x)}" cy="{svg.num(y)}" r="4" '
                       f'fill="{position_color(p, POSITIONS)}" stroke="#333" stroke-width="0.5"/>')
        x0, y0 = cx + scale * rotated[0, i], cy - scale * rotated[0, i + half]
        out.append(svg.arrow([(cx, cy), (x0, y0)], stroke="#999", width=1))
        out.append(svg.text(cx, cy + radius + 24, f"pair {i}: channels ({i}, {i + half})", 12))
        out.append(svg.text(cx, cy + radius + 40, f"{rate:g} rad per position", 11, fill="#555"))
    out.append(svg.color_bar(width - 16, top, 2 * radius, 0, POSITIONS - 1,
                             lambda v: position_color(v, POSITIONS), None, width=8, steps=POSITIONS,
                             ticks=[0, POSITIONS - 1]))
    body = "\n".join(out) + "\n"
    svg.write_text(os.path.join(FIG, "rotary_pairs.svg"), svg.svg_document(width + 20, height, body,
                                                                          title="rotary embedding pairs"))


def scores_figure():
    n, d = 24, 16
    rng = np.random.default_rng(0)
    rope = RotaryEmbedding(d, n, 100.0, dtype=np.float64)
    q, k = rng.standard_normal(d), rng.standard_normal(d)
    scores = at_every_position(q, n, rope) @ at_every_position(k, n, rope).T     # (query i, key j)
    svg.write_text(os.path.join(FIG, "rotary_scores.svg"), svg.matrix_svg(
        scores, title="q_i . k_j with RoPE (one q, one k, d = 16): constant along each diagonal j - i",
        xlabel="key position j", ylabel="query position i", value_label="q_i . k_j"))


def main():
    os.makedirs(FIG, exist_ok=True)
    pairs_figure()
    scores_figure()
    print("wrote docs/figures/rotary_pairs.svg, docs/figures/rotary_scores.svg")


if __name__ == "__main__":
    main()
