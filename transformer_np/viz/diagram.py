"""Architecture diagrams drawn from a model's configuration: the decoder block, the TransformerLM stack
and the encoder-decoder, as SVG, with the tensor shape written on every arrow.

    svg = lm_diagram_svg(model, seq_len=8)                 # a TransformerLM (or GPT2) or its config dict
    svg = decoder_block_svg(d_model=64, n_heads=4, d_ff=256, seq_len=8)
    svg = encoder_decoder_diagram_svg(transformer, src_len=8, tgt_len=8)

The data flows top to bottom. A grey box is a layer (its name in the code in monospace under it), a
circle with + is a residual addition (the side line carries the block's input around the sub-layer),
and a dashed frame is a block repeated n_layers times. Shapes use B for the batch and the model's sizes
for the rest, e.g. (B, 8, 64).
"""
from .svg import ARROW_MARKER, arrow, box, num, svg_document, text

BOX_W, BOX_H, GAP, ADD_R = 340, 40, 34, 11
LAYER_FILL, IO_FILL, ATTN_FILL, MLP_FILL, NORM_FILL = "#eeeeee", "#ffffff", "#fde7c8", "#d9ecf7", "#e6f2e1"


def _shape(*dims):
    return "(" + ", ".join(str(d) for d in dims) + ")"


# ----------------------------------------------------------------------------------- the steps
# A column is a list of steps drawn top to bottom; an arrow labelled with its tensor shape joins each
# step to the next. Kinds: "io" (an input or output, no box fill), "layer" (a box), "add" (a residual
# +, fed from the most recent "fork"), "fork" (where a residual line leaves the main path),
# "group" / "end" (a dashed frame around the steps between, e.g. a block repeated n_layers times).

def _layer(label, code, shape, fill=LAYER_FILL, name=None):
    return {"kind": "layer", "label": label, "code": code, "shape": shape, "fill": fill, "name": name}


def _block_steps(C, H, F, T, pre_ln=True, causal=True, cross_len=None, activation="GELU", prefix="h.i."):
    """The steps of one encoder or decoder block (pre-LN or post-LN), input and output (B, T, C)."""
    x = _shape("B", T, C)
    attn_label = ("masked " if causal else "") + f"multi-head self-attention, {H} heads of {C // H}"
    subs = [(_layer(attn_label, f"{prefix}attn   Q, K, V: {_shape('B', H, T, C // H)} each", x, ATTN_FILL,
                    name="self_attention"), f"{prefix}ln_1")]
    if cross_len is not None:
        subs.append((_layer("cross-attention: queries here, keys/values from memory",
                            f"{prefix}crossattention   scores {_shape('B', H, T, cross_len)}", x, ATTN_FILL,
                            name="cross_attention"), f"{prefix}ln_cross_attn"))
    subs.append((_layer(f"MLP: Linear {C}\u2192{F}, {activation}, Linear {F}\u2192{C}",
                        f"{prefix}mlp   hidden {_shape('B', T, F)}", x, MLP_FILL), f"{prefix}ln_2"))
    steps = []
    for sub, norm in subs:
        ln = _layer("LayerNorm", norm, x, NORM_FILL)
        if pre_ln:
            steps += [{"kind": "fork"}, ln, sub, {"kind": "add", "shape": x}]
        else:
            steps += [{"kind": "fork"}, sub, {"kind": "add", "shape": x}, ln]
    return steps


def _lm_steps(cfg, T):
    V, C, H, L, F = (cfg[k] for k in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff"))
    pre_ln = cfg.get("pre_ln", True)
    positions = "learned positions wpe" if cfg.get("positional", "learned") == "learned" else "sinusoidal positions"
    steps = [{"kind": "io", "label": "token ids", "shape": _shape("B", T)},
             _layer(f"token embedding: one row of {V}\u00d7{C} per id", "wte", _shape("B", T, C)),
             _layer(f"+ {positions}: one row per position 0..{T - 1}", "wpe", _shape("B", T, C)),
             {"kind": "group", "label": f"\u00d7 {L} decoder blocks (h.0 \u2026 h.{L - 1})"},
             *_block_steps(C, H, F, T, pre_ln, activation=_act(cfg)),
             {"kind": "end"}]
    if pre_ln:
        steps.append(_layer("final LayerNorm", "ln_f", _shape("B", T, C), NORM_FILL))
    steps += [_layer(f"output head: x @ wte\u1d40 (tied to the embedding)", "lm_head", _shape("B", T, V)),
              {"kind": "io", "label": "logits: a score per vocabulary entry", "shape": None}]
    return steps


def _act(cfg):
    return {"relu": "ReLU", "gelu_exact": "GELU (erf)"}.get(cfg.get("activation", "gelu"), "GELU")


# ------------------------------------------------------------------------------------ drawing

def _draw_column(steps, x0, y0):
    """Markup for a column of steps with its left edge at x0, starting at y0. Returns (markup, bottom y,
    {step name: (x, y, w, h)}) so that other columns can point at named boxes."""
    cx = x0 + BOX_W / 2
    out, anchors, fork_y, groups = [], {}, [], []
    y = y0
    prev_bottom = None          # where the arrow into the next step starts
    fork_pending = 0
    pending_shape = None
    for step in steps:
        kind = step["kind"]
        if kind == "fork":
            fork_pending += 1           # the residual line leaves just above the next box
            continue
        if kind == "group":
            groups.append((y - 4, step["label"]))
            y += 22
            continue
        if kind == "end":
            top, label = groups.pop()
            out.append(box(x0 - 40, top, BOX_W + 200, y - top - 8, fill="none", stroke="#999", dash="6 4"))
            out.append(text(x0 + BOX_W + 154, top + 15, label, 12, "end", fill="#555", font_weight="bold"))
            continue
        h = 2 * ADD_R if kind == "add" else (28 if kind == "io" else BOX_H)
        fork_y += [y - 10] * fork_pending
        fork_pending = 0
        if prev_bottom is not None:
            out.append(arrow([(cx, prev_bottom), (cx, y)]))
            if pending_shape:
                out.append(text(cx + 8, (prev_bottom + y) / 2 + 4, pending_shape, 11, "start", fill="#333",
                                font_family="monospace"))
        if kind == "add":
            cy = y + ADD_R
            out.append(f'<circle cx="{num(cx)}" cy="{num(cy)}" r="{ADD_R}" fill="white" stroke="#444"/>')
            out.append(text(cx, cy + 5, "+", 16))
            start = fork_y.pop()
            left = x0 - 22
            out.append(f'<circle cx="{num(cx)}" cy="{num(start)}" r="2.5" fill="#444"/>')
            out.append(arrow([(cx, start), (left, start), (left, cy), (cx - ADD_R, cy)]))
        elif kind == "io":
            out.append(text(cx, y + 18, step["label"], 13, font_weight="bold"))
            if step.get("name"):
                anchors[step["name"]] = (x0, y, BOX_W, h)
        else:
            out.append(box(x0, y, BOX_W, h, fill=step["fill"]))
            out.append(text(cx, y + 17, step["label"], 12))
            out.append(text(cx, y + 32, step["code"], 10, fill="#555", font_family="monospace"))
            if step.get("name"):
                anchors[step["name"]] = (x0, y, BOX_W, h)
        prev_bottom, pending_shape = y + h, step.get("shape")
        y += h + GAP
    return "\n".join(out), y - GAP, anchors


def _document(columns, title, width=None, arrows=()):
    """columns: [(steps, x0, heading)]. arrows: functions (anchors_per_column) -> markup."""
    parts, anchors, bottom = [ARROW_MARKER], [], 0
    top = 52 if title else 16
    for steps, x0, heading in columns:
        if heading:
            parts.append(text(x0 + BOX_W / 2, top, heading, 14, font_weight="bold"))
        markup, y, named = _draw_column(steps, x0, top + (20 if heading else 0))
        parts.append(markup)
        anchors.append(named)
        bottom = max(bottom, y)
    for draw in arrows:
        parts.append(draw(anchors))
    width = max(width or max(x0 for _, x0, _ in columns) + BOX_W + 180, 8 * len(title or "") + 20)
    if title:
        parts.insert(1, text(width / 2, 26, title, 15, font_weight="bold"))
    return svg_document(width, bottom + 20, "\n".join(parts) + "\n", title=title or "architecture")


def _config(model_or_config):
    cfg = model_or_config if isinstance(model_or_config, dict) else getattr(model_or_config, "config", None)
    if not isinstance(cfg, dict):
        raise TypeError(f"expected a model with a .config dict or a config dict, got {type(model_or_config).__name__}")
    return cfg


def decoder_block_svg(d_model, n_heads, d_ff, seq_len="T", pre_ln=True, activation="gelu", title=None):
    """One decoder block of a TransformerLM: causal self-attention then the MLP, each in a residual
    sub-layer with its LayerNorm (before the sub-layer when pre_ln, after the addition otherwise)."""
    steps = [{"kind": "io", "label": "x: the residual stream", "shape": _shape("B", seq_len, d_model)},
             *_block_steps(d_model, n_heads, d_ff, seq_len, pre_ln, activation=_act({"activation": activation}),
                           prefix=""),
             {"kind": "io", "label": "x, one block later", "shape": None}]
    title = title or f"A decoder block ({'pre' if pre_ln else 'post'}-LN)"
    return _document([(steps, 70, None)], title)


def lm_diagram_svg(model_or_config, seq_len=None, title=None):
    """The whole TransformerLM: embeddings and positions, n_layers decoder blocks, final LayerNorm,
    tied head, with the model's own sizes on the arrows. seq_len defaults to the context window."""
    cfg = _config(model_or_config)
    T = seq_len or cfg["max_len"]
    title = title or (f"TransformerLM: vocab {cfg['vocab_size']}, d_model {cfg['d_model']}, "
                      f"{cfg['n_heads']} heads, {cfg['n_layers']} layers, d_ff {cfg['d_ff']}")
    return _document([(_lm_steps(cfg, T), 70, None)], title)


def encoder_decoder_diagram_svg(model_or_config, src_len, tgt_len, title=None):
    """The encoder-decoder Transformer: the encoder column reads the source, the decoder column writes
    the target; the encoder's output (its "memory") feeds every decoder block's cross-attention."""
    cfg = _config(model_or_config)
    C, H, L, F = (cfg[k] for k in ("d_model", "n_heads", "n_layers", "d_ff"))
    pre_ln, act = cfg.get("pre_ln", False), _act(cfg)
    S, T = src_len, tgt_len
    def stack(name, side, ids_label, vocab, length, **block):
        """One column: ids, embedding + positions, the repeated block, the final LayerNorm (pre-LN).
        name: "encoder" / "decoder"; side: "source" / "target"."""
        steps = [{"kind": "io", "label": ids_label, "shape": _shape("B", length)},
                 _layer(f"{side} embedding {vocab}\u00d7{C} + sinusoidal positions",
                        {"source": "src_embed", "target": "tgt_embed"}[side], _shape("B", length, C)),
                 {"kind": "group", "label": f"\u00d7 {L} {name} blocks"},
                 *_block_steps(C, H, F, length, pre_ln, activation=act, prefix=f"{name}.h.i.", **block),
                 {"kind": "end"}]
        if pre_ln:
            steps.append(_layer("final LayerNorm", f"{name}.ln_f", _shape("B", length, C), NORM_FILL))
        return steps
    enc = stack("encoder", "source", "source ids", cfg["src_vocab_size"], S, causal=False)
    enc.append({"kind": "io", "label": "memory", "shape": None, "name": "memory"})
    dec = stack("decoder", "target", "target ids (start token + answer so far)", cfg["tgt_vocab_size"], T,
                cross_len=S)
    dec += [_layer(f"output Linear {C}\u2192{cfg['tgt_vocab_size']}", "lm_head", _shape("B", T, cfg["tgt_vocab_size"])),
            {"kind": "io", "label": "logits", "shape": None}]
    enc_x, dec_x = 70, 70 + BOX_W + 260

    def memory_arrow(anchors):
        """From the encoder's output up the gap between the columns into the decoder's cross-attention."""
        _, my, _, mh = anchors[0]["memory"]
        cx, cy, _, ch = anchors[1]["cross_attention"]
        gap_x, mid = enc_x + BOX_W + 180, cy + ch / 2
        return "\n".join([
            arrow([(enc_x + BOX_W / 2 + 40, my + mh / 2), (gap_x, my + mh / 2), (gap_x, mid), (cx, mid)],
                  stroke="#b35900", width=2),
            text(enc_x + BOX_W / 2 + 48, my + mh / 2 - 7, f"{_shape('B', S, C)}: keys and values for "
                 "every decoder block", 11, "start", fill="#b35900", font_family="monospace")])
    title = title or (f"Transformer (encoder-decoder): d_model {C}, {H} heads, {L}+{L} layers, d_ff {F}, "
                      f"{'pre' if pre_ln else 'post'}-LN")
    return _document([(enc, enc_x, "encoder"), (dec, dec_x, "decoder")], title, width=dec_x + BOX_W + 180,
                     arrows=[memory_arrow])
