"""Attention pictures: capture the weights during forward, draw one head as an SVG heatmap, or every head
of every layer as one self-contained HTML page (a layers x heads grid of heatmaps and a lines view in
the spirit of bertviz: tokens left and right, line opacity = weight; hover a token to see what it
attends to).

Capturing is opt-in and free when off: MultiHeadAttention has `record_attention = None`; the context
manager below sets it to a list on every attention layer of a model, so that each forward appends a
copy of its (B, H, T_q, T_k) weights, and puts it back to None on exit.

    with capture_attention(model) as cap:
        model.forward(ids)
    layers = cap.by_layer()                   # [(H, T, T) per self-attention layer], batch element 0
    write_attention_html("attn.html", labels, layers, title="my sentence")

Every heatmap cell carries its numbers as attributes (data-q, data-k, data-w; in the HTML page each
heatmap's <svg> carries data-l and data-h), so the files can be checked by parsing them back; the page's
script reads the lines view from those cells.
"""
import contextlib
import json
import warnings

import numpy as np

from ..core import Module
from ..layers.attention import MultiHeadAttention
from .svg import attr, color_bar, diverging_color, esc, heat_color, num, svg_document, text, write_text

# ------------------------------------------------------------------------------------------- capture


def named_modules(model, prefix=""):
    """Yield (dotted_name, module) for the model and every sub-module once, in assignment order
    (names as in named_parameters: `h.0.attn`, `decoder.h.1.crossattention`)."""
    seen = set()

    def walk(path, module):
        if id(module) in seen:
            return
        seen.add(id(module))
        yield path, module
        for name, child in module._children():
            if isinstance(child, Module):
                yield from walk(f"{path}.{name}" if path else name, child)
    yield from walk(prefix, model)


class AttentionCapture:
    """The records of one `capture_attention` block: for each attention layer (in model order), the
    list of weight arrays (B, H, T_q, T_k) its forward calls produced, oldest first."""

    def __init__(self, layers):
        self.layers = layers                  # [(name, MultiHeadAttention, [arrays])]

    @property
    def names(self):
        return [name for name, _, _ in self.layers]

    def records(self, name):
        """All arrays recorded by the layer called `name`."""
        for n, _, recs in self.layers:
            if n == name:
                return recs
        raise KeyError(f"no attention layer named {name!r}; have {self.names}")

    def by_layer(self, kind="self", batch_index=0, call=-1):
        """[(H, T_q, T_k) for each layer] from one forward call (the last by default), one batch
        element. kind: "self" (self-attention layers), "cross" (cross-attention), or "all"; or a string
        that the layer names must contain (e.g. "encoder.", "decoder.h")."""
        out = []
        for name, module, recs in self.layers:
            if kind == "self" and module.cross or kind == "cross" and not module.cross:
                continue
            if kind not in ("self", "cross", "all") and kind not in name:
                continue
            if recs:
                out.append(np.asarray(recs[call][batch_index]))
        return out

    def clear(self):
        for _, _, recs in self.layers:
            recs.clear()


@contextlib.contextmanager
def capture_attention(model):
    """Within the block, every MultiHeadAttention in `model` appends a copy of its weights to a list at
    each forward. Yields an AttentionCapture. On exit the layers stop recording (the copies stay in the
    AttentionCapture)."""
    layers = [(name, m, []) for name, m in named_modules(model) if isinstance(m, MultiHeadAttention)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no MultiHeadAttention layers to capture")
    previous = [vars(m).get("record_attention", _UNSET) for _, m, _ in layers]
    for _, m, recs in layers:
        m.record_attention = recs
    try:
        yield AttentionCapture(layers)
    finally:
        for (_, m, _), prev in zip(layers, previous):
            if prev is _UNSET:
                del m.record_attention                 # back to the class default, None
            else:
                m.record_attention = prev


_UNSET = object()


# ---------------------------------------------------------------------------------------------- labels

VISIBLE_WHITESPACE = {" ": "\u2423", "\n": "\u23ce", "\t": "\u21e5", "\r": "\u240d"}   # ␣ ⏎ ⇥ ␍
GPT2_BYTE_MARKERS = {"\u0120": "\u2423", "\u010a": "\u23ce", "\u0109": "\u21e5", "\u010d": "\u240d"}  # Ġ Ċ ĉ č


def readable(piece):
    """Make whitespace visible in a token's text: ' the' -> '␣the', '\\n' -> '⏎'. Also turns GPT-2's
    byte-level markers (Ġ for a space, Ċ for a newline) into the same symbols."""
    return "".join(VISIBLE_WHITESPACE.get(c) or GPT2_BYTE_MARKERS.get(c) or c for c in piece)


def token_labels(tokenizer, ids):
    """Readable label for each token id.

    tokenizer: a BPETokenizer (uses decode_bytes: the tokens' real bytes, read as one UTF-8 text so a
    character split over several tokens, an emoji's 4 bytes say, shows as that character on each of its
    tokens, with `…` on the side where the character goes on in the neighbouring token; a byte no
    character completes shows as a \\xNN escape), anything with a `decode(list_of_ids)`, a sequence or
    dict id -> string (a toy task's vocabulary), or None (the ids).
    """
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    if tokenizer is not None and hasattr(tokenizer, "decode_bytes"):
        pieces = labels_from_bytes([tokenizer.decode_bytes([i]) for i in ids])
    else:
        pieces = [str(i) if tokenizer is None else
                  tokenizer.decode([i]) if hasattr(tokenizer, "decode") else str(tokenizer[i]) for i in ids]
    return [_visible(readable(piece)) if piece else "\u2205" for piece in pieces]     # ∅ for an empty piece


def labels_from_bytes(pieces):
    """Each token's text when the tokens' bytes are read together as UTF-8: [b"\xf0\x9f", b"\x91\x8d"]
    -> ["👍…", "…👍"] (the thumbs-up emoji, split over two tokens). Bytes that no valid character
    covers stay visible as \\xNN."""
    data = b"".join(pieces)
    chars = []                                # (start, end, text) for each character or stray byte
    i = 0
    while i < len(data):
        lead = data[i]
        n = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else \
            4 if lead >> 3 == 0b11110 else 1
        try:
            chars.append((i, i + n, data[i:i + n].decode("utf-8")))
        except UnicodeDecodeError:
            n = 1
            chars.append((i, i + 1, f"\\x{lead:02x}" if lead >= 0x80 else chr(lead)))
        i += n
    labels, start, c = [], 0, 0
    for piece in pieces:
        end = start + len(piece)
        while c < len(chars) and chars[c][1] <= start:
            c += 1
        j, texts = c, []
        while j < len(chars) and chars[j][0] < end:
            texts.append(chars[j][2])
            j += 1
        label = "".join(texts)
        if texts and chars[c][0] < start:
            label = "\u2026" + label         # the character began in the previous token
        if texts and chars[j - 1][1] > end:
            label += "\u2026"                # ... and ends in the next one
        labels.append(label)
        start = end
    return labels


def _visible(label):
    """A label made only of invisible format characters (a zero-width joiner alone, U+200D) shows its
    code point instead of nothing."""
    import unicodedata
    core = label.strip("\u2026")
    if core and all(unicodedata.category(ch) in ("Cf", "Mn") for ch in core):
        return label.replace(core, " ".join(f"U+{ord(ch):04X}" for ch in core))
    return label


def joined_labels(labels):
    """The labels as one line of text (a page title): a character split over tokens appears once."""
    out = []
    for label in labels:
        if label.startswith("\u2026") and out:
            continue                          # the rest of a character already shown
        out.append(label.rstrip("\u2026"))
    return "".join(out)


def _check_weights(weights, name="weights"):
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"{name} must be (T_q, T_k), got shape {w.shape}")
    return w


def _check_labels(labels, n, what):
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} {what} labels for {n} positions")
    return labels


# --------------------------------------------------------------------------------------- one heatmap

def heatmap_svg(weights, q_labels, k_labels=None, title=None, cell=None, digits=4):
    """One head as an SVG heatmap: rows = queries (the token attending), columns = keys (attended to),
    token texts on both axes, darker = more weight; each cell a <rect> with data-q, data-k, data-w and a
    tooltip. weights (T_q, T_k)."""
    w = _check_weights(weights)
    t_q, t_k = w.shape
    q_labels = _check_labels(q_labels, t_q, "query")
    k_labels = _check_labels(k_labels if k_labels is not None else q_labels, t_k, "key")
    cell = cell or max(14, min(36, 560 // max(t_q, t_k, 1)))
    label_w = 10 + 7 * min(24, max((len(s) for s in q_labels + k_labels), default=1))
    top = label_w + (30 if title else 10)
    left = label_w + 10
    width = max(left + t_k * cell + 90, 8 * len(title or "") + 20, left + 280)   # room for title and footer
    height = top + t_q * cell + 40
    out = []
    if title:
        out.append(f'<text x="{num(width / 2)}" y="20" font-size="14" text-anchor="middle" '
                   f'font-weight="bold">{esc(title)}</text>')
    out.append(f'<g class="heatmap" data-rows="{t_q}" data-cols="{t_k}">')
    for q in range(t_q):
        for k in range(t_k):
            v = w[q, k]
            out.append(f'<rect class="cell" x="{left + k * cell}" y="{top + q * cell}" width="{cell}" '
                       f'height="{cell}" fill="{heat_color(v)}" data-q="{q}" data-k="{k}" '
                       f'data-w="{v:.{digits}f}"><title>{esc(q_labels[q])} \u2192 {esc(k_labels[k])}: '
                       f'{v:.3f}</title></rect>')
    out.append("</g>")
    fs = 11 if cell >= 16 else 9
    for q, s in enumerate(q_labels):                                   # query labels, left, right-aligned
        out.append(f'<text class="qlabel" x="{left - 6}" y="{num(top + (q + 0.5) * cell + 4)}" '
                   f'font-size="{fs}" text-anchor="end" data-q="{q}">{esc(_short(s))}</text>')
    for k, s in enumerate(k_labels):                                   # key labels, top, rotated
        x, y = left + (k + 0.5) * cell + 4, top - 6
        out.append(f'<text class="klabel" x="{num(x)}" y="{num(y)}" font-size="{fs}" '
                   f'transform="rotate(-60 {num(x)} {num(y)})" data-k="{k}">{esc(_short(s))}</text>')
    out.append(f'<text x="{left}" y="{num(top + t_q * cell + 16)}" font-size="10" fill="#666">'
               f'rows: queries (attending) \u2022 columns: keys (attended to)</text>')
    out.append(color_bar(left + t_k * cell + 14, top, max(120, min(t_q * cell, 240)), 0.0, 1.0, heat_color,
                         "attention weight", ticks=[0, 0.25, 0.5, 0.75, 1]))
    return svg_document(width, max(height, top + 260), "\n".join(out) + "\n", title=title or "attention")


def heads_grid_svg(layers, q_labels, k_labels=None, title=None, cell=14):
    """Every head of every layer in one SVG picture: a grid with a row per layer and a column per head,
    token texts on the outer edges, one shared colour scale. layers: [(H, T_q, T_k) weights per layer]."""
    layers = [np.asarray(heads) for heads in layers]
    if not layers or any(heads.ndim != 3 or heads.shape[1:] != layers[0].shape[1:] for heads in layers):
        raise ValueError("layers must be a non-empty list of (heads, T_q, T_k) arrays of one (T_q, T_k)")
    t_q, t_k = layers[0].shape[1:]
    q_labels = _check_labels(q_labels, t_q, "query")
    k_labels = _check_labels(k_labels if k_labels is not None else q_labels, t_k, "key")
    n_heads, gap = max(heads.shape[0] for heads in layers), 16
    label_w = 10 + 6 * min(24, max((len(s) for s in q_labels + k_labels), default=1))
    left, top = 70 + label_w, label_w + (50 if title else 30)
    panel_w, panel_h = t_k * cell, t_q * cell
    width = left + n_heads * (panel_w + gap) + 80
    height = top + len(layers) * (panel_h + gap) + 24
    out = [] if not title else [f'<text x="{num(width / 2)}" y="20" font-size="14" text-anchor="middle" '
                                f'font-weight="bold">{esc(title)}</text>']
    for l, heads in enumerate(layers):
        y0 = top + l * (panel_h + gap)
        out.append(f'<text x="10" y="{num(y0 + panel_h / 2 + 4)}" font-size="12" font-weight="bold">layer {l}</text>')
        for q, s in enumerate(q_labels):
            out.append(f'<text x="{left - 6}" y="{num(y0 + (q + 0.5) * cell + 3)}" font-size="9" '
                       f'text-anchor="end">{esc(_short(s))}</text>')
        for h in range(heads.shape[0]):
            w, x0 = _check_weights(heads[h]), left + h * (panel_w + gap)
            out.append(f'<g class="heatmap" data-layer="{l}" data-head="{h}">')
            out += [f'<rect x="{x0 + k * cell}" y="{y0 + q * cell}" width="{cell}" height="{cell}" '
                    f'fill="{heat_color(w[q, k])}"><title>layer {l} head {h}: {esc(q_labels[q])} \u2192 '
                    f'{esc(k_labels[k])}: {w[q, k]:.3f}</title></rect>' for q in range(t_q) for k in range(t_k)]
            out.append(f'<rect x="{x0}" y="{y0}" width="{panel_w}" height="{panel_h}" fill="none" '
                       f'stroke="#999" stroke-width="0.5"/></g>')
    for h in range(n_heads):
        x0 = left + h * (panel_w + gap)
        out.append(text(x0 + panel_w / 2, top - label_w - 8, f"head {h}", 12, font_weight="bold"))
        for k, s in enumerate(k_labels):
            x, y = x0 + (k + 0.5) * cell + 3, top - 4
            out.append(f'<text x="{num(x)}" y="{num(y)}" font-size="9" transform="rotate(-60 {num(x)} {num(y)})">'
                       f'{esc(_short(s))}</text>')
    out.append(f'<text x="{left}" y="{num(height - 8)}" font-size="10" fill="#666">'
               f'each square: rows = queries (attending), columns = keys (attended to)</text>')
    out.append(color_bar(width - 66, top, min(max(120, panel_h), 240), 0.0, 1.0, heat_color, "attention weight",
                         ticks=[0, 0.5, 1]))
    return svg_document(width, max(height, top + 260), "\n".join(out) + "\n", title=title or "attention heads")


def write_attention_svg(path, weights, q_labels, k_labels=None, title=None):
    """Write heatmap_svg(...) to `path`."""
    return write_text(path, heatmap_svg(weights, q_labels, k_labels, title))


def _short(s, n=24):
    return s if len(s) <= n else s[: n - 1] + "\u2026"


# ---------------------------------------------------------------------------------- neuron view

def query_key_vectors(model, kind="self", batch_index=0):
    """[(q (H, T_q, d_k), k (H, T_k, d_k)) per attention layer] as the model's last forward left them
    (ScaledDotProductAttention keeps Q and K for its backward). kind: "self", "cross" or "all"."""
    out = []
    for _, m in named_modules(model):
        if not isinstance(m, MultiHeadAttention) or kind == "self" and m.cross or kind == "cross" and not m.cross:
            continue
        att = m.attention
        if "q" not in vars(att):
            raise ValueError("no saved queries and keys: run a forward first (generation releases them)")
        q, k = m.head_queries_keys()                                   # per query head (grouped kv repeated)
        out.append((np.asarray(q[batch_index]), np.asarray(k[batch_index])))
    return out


def neuron_view_svg(q, k, q_labels, k_labels=None, query=-1, weights=None, title=None, cell=None):
    """Where one head's scores come from (bertviz's neuron view), for one query position:
    the query vector q, then for each key j: its key vector k_j, the element-wise products q * k_j
    (their sum is the dot product), q . k_j, the scaled score q . k_j / sqrt(d_k), and the softmax weight.
    q (T_q, d_k) and k (T_k, d_k) are one head's queries and keys; weights (T_q, T_k) the head's
    attention weights (masked keys show weight 0; computed from the scores without a mask if omitted)."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    t_q, d = q.shape
    t_k = k.shape[0]
    q_labels = _check_labels(q_labels, t_q, "query")
    k_labels = _check_labels(k_labels if k_labels is not None else q_labels, t_k, "key")
    i = query % t_q
    qi = q[i]
    products = qi[None, :] * k                                         # (T_k, d_k)
    dots = products.sum(axis=1)
    scores = dots / d ** 0.5
    if weights is None:
        e = np.exp(scores - scores.max())
        w = e / e.sum()
    else:
        w = _check_weights(weights)[i]
    cell = cell or max(4, min(14, 320 // d))
    label_w = 10 + 7 * min(16, max(len(s) for s in k_labels + [q_labels[i]]))
    x_k, top, row = label_w + 10, 74 if title else 50, max(cell, 16)
    x_p = x_k + max(d * cell, 150) + 24
    x_num = x_p + max(d * cell, 150) + 20
    width, height = max(x_num + 250, 620), top + (t_k + 1) * row + 40
    vmax = float(max(np.abs(k).max(), np.abs(qi).max(), 1e-12))
    pmax = float(np.abs(products).max()) or 1.0
    out = []
    if title:
        out.append(text(width / 2, 20, title, 14, font_weight="bold"))
    out.append(text(10, top - 30, f"query {i}: \u201c{q_labels[i]}\u201d", 12, "start", font_weight="bold"))
    out.append(text(x_k, top - 8, f"key vectors k (d_k = {d})", 11, "start", fill="#555"))
    out.append(text(x_p, top - 8, "q \u00d7 k per dimension", 11, "start", fill="#555"))
    for x, head in ((x_num, "q\u00b7k"), (x_num + 60, "/\u221ad_k"), (x_num + 120, "softmax weight")):
        out.append(text(x, top - 8, head, 11, "start", fill="#555"))

    def strip(x0, y0, values, scale, kind):
        for c, v in enumerate(values):
            out.append(f'<rect x="{x0 + c * cell}" y="{num(y0)}" width="{cell}" height="{row - 3}" '
                       f'fill="{diverging_color(v / scale)}" data-{kind}="{v:.4g}"/>')
    y = top
    out.append(text(x_k - 6, y + row / 2 + 1, "q", 12, "end", font_weight="bold"))
    strip(x_k, y, qi, vmax, "q")
    for j in range(t_k):
        y = top + (j + 1) * row
        out.append(f'<g class="key" data-key="{j}" data-dot="{dots[j]:.6g}" data-weight="{w[j]:.6g}">')
        out.append(text(x_k - 6, y + row / 2 + 1, _short(k_labels[j], 16), 11, "end"))
        strip(x_k, y, k[j], vmax, "k")
        strip(x_p, y, products[j], pmax, "p")
        out.append(text(x_num, y + row / 2 + 1, f"{dots[j]:.2f}", 11, "start", font_family="monospace"))
        out.append(text(x_num + 60, y + row / 2 + 1, f"{scores[j]:.2f}", 11, "start", font_family="monospace"))
        out.append(f'<rect x="{x_num + 120}" y="{num(y + 2)}" width="{num(90 * w[j])}" height="{row - 7}" '
                   f'fill="#08306b"/>')
        out.append(text(x_num + 215, y + row / 2 + 1, f"{w[j]:.3f}", 11, "start", font_family="monospace"))
        out.append("</g>")
    out.append(text(10, height - 14, "colours: blue negative, red positive (vectors on one scale, products on "
                    "another); the products of a row add up to q\u00b7k", 10, "start", fill="#555"))
    return svg_document(width, height, "\n".join(out) + "\n", title=title or "neuron view")


# ------------------------------------------------------------------------------------ the HTML page

CHECKED = ' checked="checked"'

def _section_html(idx, name, q_labels, k_labels, layers, layer_names, digits, vectors=None):
    """One group of layers sharing query/key tokens: token strips, lines view, grid of heatmaps, and
    with `vectors` ([(q (H, T_q, d_k), k (H, T_k, d_k)) per layer]) the neuron view."""
    n_layers = len(layers)
    n_heads = layers[0].shape[0]
    t_q, t_k = layers[0].shape[1:]
    sid = f"s{idx}"
    out = [f'<section class="attn" id="{sid}" data-layers="{n_layers}" data-heads="{n_heads}" '
           f'data-tq="{t_q}" data-tk="{t_k}">', f"<h2>{esc(name)}</h2>"]
    out.append('<p class="hint">Hover a token to see what it attends to (its row in every heatmap, its '
               'lines on the left). Click a heatmap to show that layer in the lines view; tick heads to '
               'overlay them.</p>')
    qjson = json.dumps(q_labels).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    kjson = json.dumps(k_labels).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    out.append(f'<div class="labels" data-q={attr(qjson)} data-k={attr(kjson)}></div>')
    # Controls for the lines view.
    out.append('<div class="controls">Layer: <select class="layer-select">')
    for li in range(n_layers):
        out.append(f'<option value="{li}">{esc(layer_names[li])}</option>')
    out.append('</select> Heads: ')
    for h in range(n_heads):
        out.append(f'<label class="headbox"><input type="checkbox" class="head-toggle" value="{h}"'
                   f'{CHECKED if h == 0 else ""}/><span class="swatch" data-head="{h}"></span>'
                   f'{h}</label>')
    out.append('<button type="button" class="all-heads">all</button>'
               '<button type="button" class="no-heads">none</button></div>')
    out.append('<div class="views"><div class="lines-view"><svg class="lines" xmlns="http://www.w3.org/2000/svg">'
               '</svg></div>')
    # The grid: layers x heads heatmaps, each cell 1 x 1 user unit, scaled by CSS.
    out.append('<div class="grid-view"><table class="grid"><tr><th></th>')
    for h in range(n_heads):
        out.append(f"<th>head {h}</th>")
    out.append("</tr>")
    for li, A in enumerate(layers):
        out.append(f'<tr><th class="rowname">{esc(layer_names[li])}</th>')
        for h in range(n_heads):
            out.append(f'<td><svg class="hm" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {t_k} {t_q}" '
                       f'preserveAspectRatio="none" data-l="{li}" data-h="{h}">')
            Ah = A[h]
            for q in range(t_q):
                row = Ah[q]
                for k in range(t_k):
                    v = row[k]
                    out.append(f'<rect x="{k}" y="{q}" width="1" height="1" fill="{heat_color(v)}" '
                               f'data-q="{q}" data-k="{k}" data-w="{v:.{digits}f}"/>')
            out.append(f'<rect class="rowhl" x="0" y="0" width="{t_k}" height="1" visibility="hidden"/>'
                       "</svg></td>")
        out.append("</tr>")
    out.append("</table>")
    legend = color_bar(4, 8, 90, 0.0, 1.0, heat_color, "attention weight", ticks=[0, 0.5, 1])
    out.append(f'<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="80" height="110">{legend}</svg>')
    out.append("</div></div>")
    if vectors is not None:
        out.append(_neuron_html(vectors, n_layers, n_heads))
    out.append("</section>")
    return "\n".join(out)


def _neuron_html(vectors, n_layers, n_heads):
    """The neuron view's data (every head's q and k, 4 significant digits) and its empty panel; the
    page's script draws it for the selected layer, the first ticked head and the hovered query."""
    if len(vectors) != n_layers:
        raise ValueError(f"{len(vectors)} layers of query/key vectors for {n_layers} layers of weights")
    data = {"q": [np.round(np.asarray(q, dtype=np.float64), 4).tolist() for q, _ in vectors],
            "k": [np.round(np.asarray(k, dtype=np.float64), 4).tolist() for _, k in vectors]}
    for q, k in vectors:
        if np.shape(q)[0] != n_heads or np.shape(k)[0] != n_heads:
            raise ValueError(f"query/key vectors must be (H={n_heads}, T, d_k), got {np.shape(q)} and {np.shape(k)}")
    return ('<h3>Neuron view</h3><p class="hint">Where the scores come from, for the layer chosen above, the '
            'first ticked head and the query token you hover (or click): the query vector q, each key '
            'vector k, their products dimension by dimension (they add up to q\u00b7k), the scaled score and '
            'the softmax weight. Blue is negative, red positive.</p>'
            f'<div class="neuron-view" data-vectors={attr(json.dumps(data, separators=(",", ":")))}>'
            '<svg class="neuron" xmlns="http://www.w3.org/2000/svg"></svg></div>')


def attention_html(sections, title="Attention", note=None, digits=4):
    """The HTML page text. sections: list of dicts with
        name       heading ("self-attention", "encoder", "cross-attention", ...)
        q_labels   token labels of the queries (rows)
        k_labels   token labels of the keys (columns); default q_labels
        layers     [(H, T_q, T_k) per layer]
        layer_names  optional, default "layer 0", "layer 1", ...
        vectors    optional [(q (H, T_q, d_k), k (H, T_k, d_k)) per layer]: adds the neuron view
    Self-contained (inline CSS and script, no network). Well-formed XML as well as HTML."""
    parts = []
    total_cells = 0
    for i, sec in enumerate(sections):
        layers = [np.asarray(a, dtype=np.float64) for a in sec["layers"]]
        if not layers:
            raise ValueError(f"section {sec.get('name', i)!r} has no layers")
        if layers[0].ndim == 2:
            layers = [a[None] for a in layers]
        shape = layers[0].shape
        for a in layers:
            if a.ndim != 3 or a.shape != shape:
                raise ValueError(f"every layer must be (H, T_q, T_k) of one shape; got {a.shape} and {shape}")
        q_labels = _check_labels(sec["q_labels"], shape[1], "query")
        k_labels = _check_labels(sec.get("k_labels") or q_labels, shape[2], "key")
        names = sec.get("layer_names") or [f"layer {j}" for j in range(len(layers))]
        total_cells += len(layers) * shape[0] * shape[1] * shape[2]
        parts.append(_section_html(i, sec.get("name", "attention"), q_labels, k_labels, layers, names, digits,
                                   sec.get("vectors")))
    if total_cells > 2_000_000:
        warnings.warn(f"attention page with {total_cells} heatmap cells will be large and slow; "
                      f"use fewer tokens", stacklevel=2)
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return (
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n'
        '<meta charset="utf-8"/>\n'
        f"<title>{esc(title)}</title>\n<style>/*<![CDATA[*/{_CSS}/*]]>*/</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{note_html}\n"
        '<div id="status" class="status">hover a token or a cell</div>\n'
        + "\n".join(parts)
        + f"\n<script>//<![CDATA[\n{_JS}\n//]]></script>\n</body>\n</html>\n")


def write_attention_html(path, tokens, attention_by_layer, title="Attention", key_tokens=None,
                         layer_names=None, note=None, vectors=None):
    """All heads of all layers for one sentence as one HTML file.
    tokens: labels of the T_q query positions; attention_by_layer: [(H, T_q, T_k) per layer];
    key_tokens: labels of the keys when they differ (cross-attention); vectors: the layers' queries and
    keys for the neuron view (see query_key_vectors)."""
    section = {"name": "attention", "q_labels": list(tokens), "k_labels": key_tokens,
               "layers": list(attention_by_layer), "layer_names": layer_names, "vectors": vectors}
    return write_text(path, attention_html([section], title=title, note=note))


def write_attention_html_sections(path, sections, title="Attention", note=None):
    """Several groups in one page (an encoder-decoder: encoder self-, decoder self-, cross-attention)."""
    return write_text(path, attention_html(sections, title=title, note=note))


# ---------------------------------------------------------------------- one-call helpers for the CLIs

def _attention_of_one_forward(model, *inputs):
    """Run one evaluation-mode forward with attention recording on; return the capture."""
    was_training = model.training
    model.eval()
    try:
        with capture_attention(model) as cap:
            model.forward(*inputs)
    finally:
        model.train(was_training)
    return cap


def attention_html_for_lm(model, ids, labels, path, title=None, max_tokens=32):
    """Run a decoder-only model (TransformerLM, GPT2) once on `ids` (one sequence) with capture on and
    write every layer's heads to `path`. Keeps the last `max_tokens` tokens: the page grows as
    layers x heads x T^2 cells of ~90 bytes (GPT-2 small, 32 tokens: 13 MB). labels: one string per id (see token_labels). Returns the path."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    labels = list(labels)
    if len(labels) != len(ids):
        raise ValueError(f"{len(labels)} labels for {len(ids)} tokens")
    note = None
    if max_tokens and len(ids) > max_tokens:
        note = (f"This page keeps only the last {max_tokens} of the {len(ids)} tokens (the page grows with "
                f"the square of the number of tokens; max_tokens={max_tokens}).")
        ids, labels = ids[-max_tokens:], labels[-max_tokens:]
    layers = _attention_of_one_forward(model, ids[None, :]).by_layer("self")
    return write_attention_html(path, labels, layers, title=title or "Attention: " + joined_labels(labels),
                                note=note, vectors=query_key_vectors(model, "self"))


def attention_html_for_seq2seq(model, src_ids, tgt_ids, src_labels, tgt_labels, path, title=None):
    """The same for an encoder-decoder Transformer: one forward on (src, tgt), three sections:
    encoder self-attention, decoder (causal) self-attention, decoder cross-attention (rows = target
    tokens, columns = source tokens)."""
    src = np.asarray(src_ids, dtype=np.int64).reshape(1, -1)
    tgt = np.asarray(tgt_ids, dtype=np.int64).reshape(1, -1)
    cap = _attention_of_one_forward(model, src, tgt)
    enc = [a for n, a in zip(_self_names(cap), cap.by_layer("self")) if n.startswith("encoder.")]
    dec = [a for n, a in zip(_self_names(cap), cap.by_layer("self")) if n.startswith("decoder.")]
    sections = [{"name": "encoder self-attention", "q_labels": list(src_labels), "layers": enc},
                {"name": "decoder self-attention (causal)", "q_labels": list(tgt_labels), "layers": dec},
                {"name": "cross-attention (target \u2192 source)", "q_labels": list(tgt_labels),
                 "k_labels": list(src_labels), "layers": cap.by_layer("cross")}]
    sections = [s for s in sections if s["layers"]]
    return write_attention_html_sections(path, sections, title=title or "Attention (encoder-decoder)")


def attention_html_for_model(model, inputs, path, labels=None, key_labels=None, title=None, max_tokens=32):
    """Dispatch on the model type, for a trainer holding "a model and an example":
        TransformerLM (and GPT2)   inputs = ids (T,)                        labels: one per id
        Transformer                inputs = (src_ids, tgt_ids)              labels: target, key_labels: source
        EncoderClassifier          inputs = ids (S,) (no padding)           labels: one per id
    Missing labels default to the ids as text."""
    from ..models import EncoderClassifier, Transformer, TransformerLM
    if isinstance(model, Transformer):
        src, tgt = (np.asarray(a, dtype=np.int64).reshape(-1) for a in inputs)
        return attention_html_for_seq2seq(model, src, tgt,
                                          key_labels if key_labels is not None else [str(i) for i in src],
                                          labels if labels is not None else [str(i) for i in tgt], path, title)
    ids = np.asarray(inputs, dtype=np.int64).reshape(-1)
    labels = list(labels) if labels is not None else [str(i) for i in ids]
    if isinstance(model, TransformerLM):
        return attention_html_for_lm(model, ids, labels, path, title, max_tokens)
    if isinstance(model, EncoderClassifier):
        cap = _attention_of_one_forward(model, ids[None, :])
        return write_attention_html(path, labels, cap.by_layer("self"), title=title or "Encoder attention")
    raise TypeError(f"no attention picture recipe for {type(model).__name__}")


def attention_html_for_trainer(trainer, path, index=0, title=None):
    """The attention picture of a trained toy model on one held-out example, for train_toy.py.
    Duck-typed on transformer_np.train.Trainer: uses trainer.model, trainer.heldout (the task's batch
    dict), trainer.cfg.arch and trainer.task (render(ids) gives a token's text)."""
    held, arch, task = trainer.heldout, trainer.cfg.arch, trainer.task

    def labels(ids):
        return [readable(task.render([int(i)])) or "\u2205" for i in ids]
    name = getattr(trainer.cfg, "task", "toy")
    if arch == "seq2seq":
        src, tgt = held["src"][index], held["tgt_in"][index]
        return attention_html_for_model(trainer.model, (src, tgt), path, labels=labels(tgt), key_labels=labels(src),
                                        title=title or f"{name} (encoder-decoder), held-out example {index}")
    ids = held["inputs"][index]
    if "key_padding_mask" in held:          # texts padded to a common length (classify-text): the text alone
        ids = ids[~held["key_padding_mask"][index]]
    return attention_html_for_model(trainer.model, ids, path, labels=labels(ids),
                                    title=title or f"{name} ({arch}), held-out example {index}: "
                                                   + task.render(ids))


def _self_names(cap):
    return [name for name, m, recs in cap.layers if not m.cross and recs]


# ------------------------------------------------------------------------------------ page CSS and JS

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 4px}
.hint,.note{color:#555;font-size:13px;margin:4px 0}
.status{position:sticky;top:0;background:#fffbe6;border:1px solid #e6d98c;padding:4px 8px;font-size:13px;
 z-index:2;min-height:18px}
.controls{font-size:13px;margin:6px 0}
.headbox{margin-right:6px;white-space:nowrap;cursor:pointer}
.swatch{display:inline-block;width:10px;height:10px;margin:0 2px 0 2px;border-radius:2px}
.views{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.lines-view{flex:0 0 auto}
svg.lines{display:block}
svg.lines text{font-size:13px;cursor:default}
svg.lines text.active{font-weight:bold}
.grid-view{overflow:auto;max-width:100%}
table.grid{border-collapse:collapse}
table.grid th{font-size:11px;font-weight:normal;color:#555;padding:1px 3px}
table.grid td{padding:2px}
svg.hm{width:var(--hm,72px);height:var(--hm,72px);display:block;border:1px solid #bbb;cursor:pointer;
 shape-rendering:crispEdges}
svg.hm.selected{border:2px solid #d55e00}
rect.rowhl{fill:none;stroke:#d55e00;stroke-width:0.25}
"""

_JS = r"""
(function(){
var HEAD_COLORS=["#0072B2","#E69F00","#009E73","#CC79A7","#D55E00","#56B4E9","#8C6D31","#000000",
 "#7F3C8D","#11A579","#3969AC","#F2B701","#E73F74","#80BA5A","#E68310","#008695"];
var status=document.getElementById("status");
function headColor(h){return HEAD_COLORS[h%HEAD_COLORS.length];}
function fmt(w){return (Math.round(w*1000)/1000).toFixed(3);}
document.querySelectorAll("section.attn").forEach(function(sec){
  var L=+sec.dataset.layers,H=+sec.dataset.heads,TQ=+sec.dataset.tq,TK=+sec.dataset.tk;
  var lab=sec.querySelector(".labels");
  var qLab=JSON.parse(lab.dataset.q),kLab=JSON.parse(lab.dataset.k);
  // Read the weights back from the heatmap cells: the cells are the single source of truth.
  var W=new Float32Array(L*H*TQ*TK);
  sec.querySelectorAll("svg.hm").forEach(function(hm){
    var base=(+hm.dataset.l*H+ +hm.dataset.h)*TQ;
    hm.querySelectorAll("rect[data-w]").forEach(function(r){
      var d=r.dataset;W[(base+ +d.q)*TK+ +d.k]=+d.w;});});
  function w(l,h,q,k){return W[((l*H+h)*TQ+q)*TK+k];}
  var layer=0,heads=[0],hover=null; // hover: {side:"q"|"k", i}
  sec.querySelectorAll(".swatch").forEach(function(s){s.style.background=headColor(+s.dataset.head);});
  var svg=sec.querySelector("svg.lines"),NS="http://www.w3.org/2000/svg";
  var rowH=20,colW=Math.max(80,7.5*Math.max.apply(null,qLab.concat(kLab).map(function(s){return s.length;}))+20),
      gap=140,top=24;
  var width=colW*2+gap,height=top+Math.max(TQ,TK)*rowH+10;
  svg.setAttribute("width",width);svg.setAttribute("height",height);
  function el(name,attrs,parent){var e=document.createElementNS(NS,name);
    for(var a in attrs)e.setAttribute(a,attrs[a]);parent.appendChild(e);return e;}
  var lineLayer=el("g",{},svg);
  el("text",{x:colW-6,y:14,"text-anchor":"end",fill:"#666","font-size":"11"},svg).textContent="query";
  el("text",{x:colW+gap+6,y:14,fill:"#666","font-size":"11"},svg).textContent="key";
  var qText=[],kText=[],qBg=[],kBg=[];
  qLab.forEach(function(s,i){
    qBg.push(el("rect",{x:0,y:top+i*rowH,width:colW,height:rowH-2,fill:"none"},svg));
    var t=el("text",{x:colW-6,y:top+i*rowH+14,"text-anchor":"end"},svg);t.textContent=s;
    t.addEventListener("mouseenter",function(){setHover({side:"q",i:i});});
    t.addEventListener("mouseleave",function(){setHover(null);});qText.push(t);});
  kLab.forEach(function(s,i){
    kBg.push(el("rect",{x:colW+gap,y:top+i*rowH,width:colW,height:rowH-2,fill:"none"},svg));
    var t=el("text",{x:colW+gap+6,y:top+i*rowH+14},svg);t.textContent=s;
    t.addEventListener("mouseenter",function(){setHover({side:"k",i:i});});
    t.addEventListener("mouseleave",function(){setHover(null);});kText.push(t);});
  function drawLines(){
    while(lineLayer.firstChild)lineLayer.removeChild(lineLayer.firstChild);
    var x1=colW,x2=colW+gap;
    heads.forEach(function(h){
      for(var q=0;q<TQ;q++){
        if(hover&&hover.side==="q"&&hover.i!==q)continue;
        for(var k=0;k<TK;k++){
          if(hover&&hover.side==="k"&&hover.i!==k)continue;
          var v=w(layer,h,q,k);if(v<0.005)continue;
          el("line",{x1:x1,y1:top+q*rowH+8,x2:x2,y2:top+k*rowH+8,stroke:headColor(h),
            "stroke-width":2,"stroke-opacity":Math.min(1,v*(hover?1:0.9))},lineLayer);}}});
    // Token backgrounds: how much the hovered token gives to / gets from each token (mean over heads).
    for(var i=0;i<TQ;i++){qBg[i].setAttribute("fill","none");qText[i].classList.remove("active");}
    for(var j=0;j<TK;j++){kBg[j].setAttribute("fill","none");kText[j].classList.remove("active");}
    if(hover&&heads.length){
      var n=hover.side==="q"?TK:TQ,bg=hover.side==="q"?kBg:qBg;
      for(var m=0;m<n;m++){var s=0;heads.forEach(function(h){
          s+=hover.side==="q"?w(layer,h,hover.i,m):w(layer,h,m,hover.i);});
        bg[m].setAttribute("fill","rgba(213,94,0,"+Math.min(1,s/heads.length)+")");}
      (hover.side==="q"?qText:kText)[hover.i].classList.add("active");}
  }
  function highlightRows(){
    sec.querySelectorAll("svg.hm").forEach(function(h){
      var r=h.querySelector("rect.rowhl");
      if(hover&&hover.side==="q"){r.setAttribute("x",0);r.setAttribute("y",hover.i);
        r.setAttribute("width",TK);r.setAttribute("height",1);r.setAttribute("visibility","visible");}
      else if(hover&&hover.side==="k"){r.setAttribute("x",hover.i);r.setAttribute("y",0);
        r.setAttribute("width",1);r.setAttribute("height",TQ);r.setAttribute("visibility","visible");}
      else r.setAttribute("visibility","hidden");});
  }
  // Neuron view: q, each k, q*k per dimension, q.k, the scaled score and the weight, for one query.
  var nv=sec.querySelector(".neuron-view"),nq=TQ-1,V=nv?JSON.parse(nv.dataset.vectors):null;
  function div(v){v=Math.max(-1,Math.min(1,v));var e=v<0?[33,102,172]:[178,24,43],u=Math.abs(v);
    return "rgb("+e.map(function(c){return Math.round(255+(c-255)*u);}).join(",")+")";}
  function drawNeuron(){
    if(!V)return;
    var s=nv.querySelector("svg.neuron");while(s.firstChild)s.removeChild(s.firstChild);
    var h=heads.length?heads[0]:0,q=V.q[layer][h][nq],K=V.k[layer][h],d=q.length;
    var cell=Math.max(3,Math.min(12,Math.floor(300/d))),row=16,top=40,
        lw=12+7*Math.min(16,Math.max.apply(null,kLab.map(function(x){return x.length;}))),
        xk=lw,xp=xk+Math.max(d*cell,150)+20,xn=xp+Math.max(d*cell,150)+20;
    var vmax=1e-12,pmax=1e-12,P=K.map(function(k){return k.map(function(v,c){
      vmax=Math.max(vmax,Math.abs(v),Math.abs(q[c]));var p=v*q[c];pmax=Math.max(pmax,Math.abs(p));return p;});});
    s.setAttribute("width",xn+230);s.setAttribute("height",top+(TK+1)*row+10);
    el("text",{x:4,y:14,"font-size":"12","font-weight":"bold"},s).textContent=
      "layer "+layer+", head "+h+", query "+nq+": \u201c"+qLab[nq]+"\u201d";
    [[xk,"k (d_k = "+d+")"],[xp,"q \u00d7 k"],[xn,"q\u00b7k"],[xn+55,"/\u221ad_k"],[xn+110,"weight"]].forEach(
      function(t){el("text",{x:t[0],y:top-6,"font-size":"11",fill:"#555"},s).textContent=t[1];});
    function strip(x0,y0,vals,scale){vals.forEach(function(v,c){
      el("rect",{x:x0+c*cell,y:y0,width:cell,height:row-3,fill:div(v/scale)},s);});}
    el("text",{x:xk-6,y:top+12,"text-anchor":"end","font-size":"12","font-weight":"bold"},s).textContent="q";
    strip(xk,top,q,vmax);
    for(var j=0;j<TK;j++){var y=top+(j+1)*row,dot=P[j].reduce(function(a,b){return a+b;},0),wt=w(layer,h,nq,j);
      el("text",{x:xk-6,y:y+12,"text-anchor":"end","font-size":"11"},s).textContent=kLab[j];
      strip(xk,y,K[j],vmax);strip(xp,y,P[j],pmax);
      el("text",{x:xn,y:y+12,"font-size":"11","font-family":"monospace"},s).textContent=dot.toFixed(2);
      el("text",{x:xn+55,y:y+12,"font-size":"11","font-family":"monospace"},s).textContent=(dot/Math.sqrt(d)).toFixed(2);
      el("rect",{x:xn+110,y:y+2,width:80*wt,height:row-7,fill:"#08306b"},s);
      el("text",{x:xn+195,y:y+12,"font-size":"11","font-family":"monospace"},s).textContent=fmt(wt);}
  }
  function setHover(hv){hover=hv;if(hv&&hv.side==="q"){nq=hv.i;drawNeuron();}drawLines();highlightRows();
    if(hv){var txt=hv.side==="q"?"\u201c"+qLab[hv.i]+"\u201d attends to (layer "+layer+", heads "+heads.join(",")+"): ":
      "attending to \u201c"+kLab[hv.i]+"\u201d (layer "+layer+"): ";
      var parts=[],n=hv.side==="q"?TK:TQ;
      for(var m=0;m<n;m++){var s=0;heads.forEach(function(h){s+=hv.side==="q"?w(layer,h,hv.i,m):w(layer,h,m,hv.i);});
        s/=Math.max(1,heads.length);if(s>=0.05)parts.push((hv.side==="q"?kLab[m]:qLab[m])+" "+fmt(s));}
      status.textContent=txt+parts.join("  ");}}
  function markSelected(){sec.querySelectorAll("svg.hm").forEach(function(h){
      h.classList.toggle("selected",+h.dataset.l===layer&&heads.indexOf(+h.dataset.h)>=0);});}
  var sel=sec.querySelector(".layer-select"),boxes=sec.querySelectorAll(".head-toggle");
  function readHeads(){heads=[];boxes.forEach(function(b){if(b.checked)heads.push(+b.value);});}
  sel.addEventListener("change",function(){layer=+sel.value;drawLines();markSelected();drawNeuron();});
  boxes.forEach(function(b){b.addEventListener("change",function(){readHeads();drawLines();markSelected();
    drawNeuron();});});
  sec.querySelector(".all-heads").addEventListener("click",function(){boxes.forEach(function(b){b.checked=true;});
    readHeads();drawLines();markSelected();});
  sec.querySelector(".no-heads").addEventListener("click",function(){boxes.forEach(function(b){b.checked=false;});
    readHeads();drawLines();markSelected();});
  sec.querySelectorAll("svg.hm").forEach(function(h){
    h.addEventListener("click",function(ev){layer=+h.dataset.l;sel.value=layer;
      if(ev.target.dataset&&ev.target.dataset.q!==undefined)nq=+ev.target.dataset.q;
      boxes.forEach(function(b){b.checked=(+b.value===+h.dataset.h);});readHeads();drawLines();markSelected();
      drawNeuron();});});
  sec.addEventListener("mouseover",function(ev){var r=ev.target;
    if(r.dataset&&r.dataset.w!==undefined){var d=r.dataset,p=r.parentNode.dataset;
      status.textContent="layer "+p.l+", head "+p.h+": \u201c"+qLab[+d.q]+"\u201d \u2192 \u201c"+kLab[+d.k]+"\u201d  "+fmt(+d.w);}});
  var size=Math.max(48,Math.min(140,Math.floor(900/Math.max(1,H))));
  sec.style.setProperty("--hm",size+"px");
  drawLines();markSelected();drawNeuron();
});
})();
"""
