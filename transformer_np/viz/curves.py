"""Training curves as SVG: loss and accuracy vs step, one line per split (train, held-out).

    write_curves_svg("runs/x/curves.svg", metrics)            # metrics: list of dicts, or a metrics.jsonl path
    write_curves_svg("grokking.svg", metrics, log_x=True)      # log-scale steps (grokking spans decades)

A metrics record is a dict with a "step" and any number of values; keys with "loss" in the name go to
the loss panel, keys with "acc" to the accuracy panel. The split is read from the key's prefix:
"train_loss" / "loss" -> train, "val_acc" / "heldout_acc" / "eval_loss" / "test_loss" -> held-out.
Records may carry only some keys (evaluation less often than training): each line uses the records
that have its key.
"""
import json
import math
import os

from .svg import PALETTE, attr, esc, log_ticks, nice_ticks, num, svg_document, tick_label, write_text

HELDOUT_PREFIXES = ("val", "valid", "validation", "eval", "heldout", "held_out", "test", "dev")
SPLIT_COLORS = {"train": PALETTE[0], "held-out": PALETTE[1]}
IGNORED_KEYS = ("step", "time", "epoch", "lr", "tokens", "seconds", "elapsed")


def load_metrics(path):
    """Read a metrics.jsonl file (one JSON object per line; blank or half-written lines are skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue                        # the last line may be mid-write while training runs
    return records


# The toy trainer's held-out accuracies (transformer_np/train.py).
KNOWN_SPLITS = {"token_accuracy": "held-out token", "sequence_accuracy": "held-out sequence"}


def split_of(key):
    """'train_loss' -> 'train', 'val_acc' -> 'held-out', 'loss' -> 'train', 'foo_loss' -> 'foo'."""
    if key in KNOWN_SPLITS:
        return KNOWN_SPLITS[key]
    k = key.lower()
    for suffix in ("_loss", "_accuracy", "_acc", "loss", "accuracy", "acc"):
        if k.endswith(suffix):
            k = k[: -len(suffix)].rstrip("_")
            break
    for prefix in ("loss_", "accuracy_", "acc_"):
        if k.startswith(prefix):
            k = k[len(prefix):]
    if k in ("", "train", "training"):
        return "train"
    if k in HELDOUT_PREFIXES:
        return "held-out"
    return k.replace("_", " ")


def series_keys(metrics):
    """(loss_keys, acc_keys) found in the records, in first-seen order."""
    loss, acc = [], []
    for rec in metrics:
        for key, value in rec.items():
            if key in IGNORED_KEYS or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            k = key.lower()
            target = loss if "loss" in k else acc if "acc" in k else None
            if target is not None and key not in target:
                target.append(key)
    return loss, acc


def _points(metrics, key, log_x):
    pts = []
    for rec in metrics:
        if key in rec and "step" in rec and isinstance(rec[key], (int, float)):
            x, y = float(rec["step"]), float(rec[key])
            if log_x and x <= 0:
                continue
            pts.append((x, y))
    return pts


class _Axis:
    """Maps data values to pixels, linear or log10."""

    def __init__(self, lo, hi, p0, p1, log=False):
        self.log = log
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, v):
        if self.log:
            v = math.log10(max(v, 1e-300))
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)


def _line_style(key):
    """Training lines wide and solid, the others narrower and dashed on top of them: when a train and a
    held-out curve coincide (a model that generalises) both stay visible."""
    if split_of(key) == "train":
        return 'stroke-width="3"'
    return 'stroke-width="1.7" stroke-dasharray="7 3"'


def _panel(metrics, keys, box, x_range, log_x, ylabel, is_acc, color_of):
    """One plot: frame, ticks, grid, the lines, a legend. box = (left, top, width, height)."""
    left, top, width, height = box
    out = []
    series = [(k, _points(metrics, k, log_x)) for k in keys]
    ys = [y for _, pts in series for _, y in pts if math.isfinite(y)]
    if is_acc:
        scale = 100.0 if ys and max(ys) > 1.0 + 1e-9 else 1.0
        y_lo, y_hi, log_y = 0.0, scale, False
    else:
        y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        log_y = y_lo > 0 and y_hi / y_lo > 30
        if not log_y:
            y_lo = min(0.0, y_lo)
            y_hi = y_hi * 1.05 if y_hi > 0 else 1.0
    xa = _Axis(x_range[0], x_range[1], left, left + width, log_x)
    ya = _Axis(y_lo, y_hi, top + height, top, log_y)
    out.append(f'<g class="panel" data-panel="{"accuracy" if is_acc else "loss"}">')
    out.append(f'<rect x="{num(left)}" y="{num(top)}" width="{num(width)}" height="{num(height)}" '
               f'fill="none" stroke="#444"/>')
    xt = log_ticks(*x_range) if log_x else nice_ticks(*x_range, n=6)
    for t in xt:
        px = xa(t)
        if left - 0.5 <= px <= left + width + 0.5:
            out.append(f'<line x1="{num(px)}" y1="{num(top)}" x2="{num(px)}" y2="{num(top + height)}" '
                       f'stroke="#ddd"/>')
            out.append(f'<line x1="{num(px)}" y1="{num(top + height)}" x2="{num(px)}" '
                       f'y2="{num(top + height + 5)}" stroke="#444"/>')
            out.append(f'<text class="tick" x="{num(px)}" y="{num(top + height + 18)}" font-size="11" '
                       f'text-anchor="middle">{esc(tick_label(t))}</text>')
    yt = log_ticks(y_lo, y_hi) if log_y else nice_ticks(y_lo, y_hi, n=5)
    for t in yt:
        py = ya(t)
        if top - 0.5 <= py <= top + height + 0.5:
            out.append(f'<line x1="{num(left)}" y1="{num(py)}" x2="{num(left + width)}" y2="{num(py)}" '
                       f'stroke="#eee"/>')
            out.append(f'<line x1="{num(left - 5)}" y1="{num(py)}" x2="{num(left)}" y2="{num(py)}" '
                       f'stroke="#444"/>')
            out.append(f'<text class="tick" x="{num(left - 8)}" y="{num(py + 4)}" font-size="11" '
                       f'text-anchor="end">{esc(tick_label(t))}</text>')
    out.append(f'<text x="{num(left + width / 2)}" y="{num(top + height + 36)}" font-size="12" '
               f'text-anchor="middle">step{" (log scale)" if log_x else ""}</text>')
    yname = ylabel + (" (log scale)" if log_y else "")
    cx, cy = left - 46, top + height / 2
    out.append(f'<text x="{num(cx)}" y="{num(cy)}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 {num(cx)} {num(cy)})">{esc(yname)}</text>')
    # The lines, clipped to the frame. A non-finite value (a diverged loss) breaks the line.
    clip = f"clip-{'acc' if is_acc else 'loss'}"
    out.append(f'<clipPath id="{clip}"><rect x="{num(left)}" y="{num(top)}" width="{num(width)}" '
               f'height="{num(height)}"/></clipPath>')
    for key, pts in series:
        d, pen_down = [], False
        for x, y in pts:
            if not math.isfinite(y) or (log_y and y <= 0):
                pen_down = False
                continue
            d.append(f"{'L' if pen_down else 'M'}{num(xa(x))} {num(ya(y))}")
            pen_down = True
        out.append(f'<path class="series" data-series={attr(key)} data-points="{len(pts)}" '
                   f'd="{" ".join(d) or "M0 0"}" fill="none" stroke="{color_of(key)}" {_line_style(key)} '
                   f'stroke-linejoin="round" clip-path="url(#{clip})"/>')
        if len(d) == 1:                  # a single point (one evaluation so far): a line has no length
            x, y = next((x, y) for x, y in pts if math.isfinite(y) and not (log_y and y <= 0))
            out.append(f'<circle class="point" data-series={attr(key)} cx="{num(xa(x))}" cy="{num(ya(y))}" '
                       f'r="3.5" fill="{color_of(key)}"/>')
    # Legend: in the corner of the frame that the lines cross least.
    texts = [f"{split_of(k)} {'accuracy' if is_acc else 'loss'}" for k in keys]
    box_w = 40 + 6.3 * max((len(t) for t in texts), default=0)
    box_h = 16 * len(keys) + 4
    pixels = [(xa(x), ya(y)) for _, pts in series for x, y in pts
              if math.isfinite(y) and not (log_y and y <= 0)]
    corners = [(left + width - box_w - 4, top + 12),                             # top-right
               (left + width - box_w - 4, top + height - 12 - 16 * (len(keys) - 1)),   # bottom-right
               (left + 12, top + 12),                                            # top-left
               (left + 12, top + height - 12 - 16 * (len(keys) - 1)),            # bottom-left
               (left + width - box_w - 4, top + height / 2 - box_h / 2 + 10)]    # middle-right

    def crowding(corner):
        x0, y0 = corner[0] - 6, corner[1] - 10
        return sum(1 for px, py in pixels if x0 - 4 <= px <= x0 + box_w + 4 and y0 - 4 <= py <= y0 + box_h + 4)
    preferred = [corners[1], corners[0]] + corners[2:] if is_acc else corners
    lx, ly = min(preferred, key=crowding)                        # ties: the first (the usual place)
    if keys:
        out.append(f'<rect x="{num(lx - 6)}" y="{num(ly - 10)}" width="{num(box_w)}" height="{16 * len(keys) + 4}" '
                   f'fill="white" fill-opacity="0.85" stroke="#ccc"/>')
    for i, key in enumerate(keys):
        y = ly + 16 * i
        out.append(f'<g class="legend-item"><line x1="{num(lx)}" y1="{num(y)}" x2="{num(lx + 22)}" '
                   f'y2="{num(y)}" stroke="{color_of(key)}" {_line_style(key)}/>'
                   f'<text x="{num(lx + 28)}" y="{num(y + 4)}" font-size="11">{esc(split_of(key))} '
                   f'{esc("accuracy" if is_acc else "loss")}</text></g>')
    out.append("</g>")
    return out


def curves_svg(metrics, log_x=False, title=None, marks=None, width=960, height=380):
    """The SVG text: a loss panel and an accuracy panel side by side (an accuracy panel only when the
    records have accuracy). marks: {label: step} drawn as dashed vertical lines on both panels."""
    if isinstance(metrics, (str, os.PathLike)):
        metrics = load_metrics(metrics)
    metrics = [m for m in metrics if isinstance(m, dict)]
    loss_keys, acc_keys = series_keys(metrics)
    steps = [float(m["step"]) for m in metrics if "step" in m and (not log_x or m["step"] > 0)]
    x_range = (min(steps), max(steps)) if steps else (1.0, 10.0)
    if log_x:
        # Start at 1 (the first step) and end a little past the last step.
        x_range = (1.0, max(x_range[1] * 1.08, 10.0))
    elif x_range[1] <= x_range[0]:                    # one step so far: put it in the middle
        x_range = (max(0.0, x_range[0] - 1), x_range[0] + 1)

    splits = []
    for k in loss_keys + acc_keys:
        if split_of(k) not in splits:
            splits.append(split_of(k))

    def color_of(key):
        s = split_of(key)
        return SPLIT_COLORS.get(s) or PALETTE[(2 + splits.index(s)) % len(PALETTE)]

    panels = [("loss", loss_keys, False)] + ([("accuracy", acc_keys, True)] if acc_keys else [])
    top, ph = 44, height - 44 - 52
    pw = (width - 80 - 90 * (len(panels) - 1) - 20) / len(panels)
    body = []
    if title:
        body.append(f'<text x="{num(width / 2)}" y="24" font-size="15" text-anchor="middle" '
                    f'font-weight="bold">{esc(title)}</text>')
    if not metrics:
        body.append(f'<text x="{num(width / 2)}" y="{num(height / 2)}" text-anchor="middle">'
                    f'no metrics yet</text>')
    for i, (name, keys, is_acc) in enumerate(panels):
        is_acc = name == "accuracy"
        left = 80 + i * (pw + 90)
        body += _panel(metrics, keys, (left, top, pw, ph), x_range, log_x, name, is_acc, color_of)
        xa = _Axis(x_range[0], x_range[1], left, left + pw, log_x)
        for j, (label, step) in enumerate((marks.items() if isinstance(marks, dict) else marks or [])):
            if step is None or (log_x and step <= 0):
                continue
            px = xa(float(step))
            # Label beside the line, on whichever side has room; stacked so that labels do not collide.
            right_side = px < left + pw * 0.6
            tx, anchor = (px + 4, "start") if right_side else (px - 4, "end")
            ty = top + (ph * 0.45 if is_acc else ph * 0.55) + 14 * j
            body.append(f'<g class="mark" data-step="{num(float(step))}"><line x1="{num(px)}" y1="{num(top)}" '
                        f'x2="{num(px)}" y2="{num(top + ph)}" stroke="#555" stroke-dasharray="4 3"/>'
                        f'<text x="{num(tx)}" y="{num(ty)}" font-size="10" text-anchor="{anchor}" '
                        f'fill="#333" stroke="white" stroke-width="3" paint-order="stroke">{esc(label)}</text></g>')
    return svg_document(width, height, "\n".join(body) + "\n", title=title or "training curves")


def write_curves_svg(path, metrics, log_x=False, title=None, marks=None):
    """Write curves_svg(...) to `path` (atomically: safe to rewrite while a browser or reader looks)."""
    return write_text(path, curves_svg(metrics, log_x=log_x, title=title, marks=marks))


def write_curves_from_jsonl(metrics_path, svg_path=None, log_x=False, title=None):
    """Read metrics.jsonl and write the curves next to it (curves.svg by default)."""
    svg_path = svg_path or os.path.join(os.path.dirname(os.path.abspath(metrics_path)), "curves.svg")
    return write_curves_svg(svg_path, load_metrics(metrics_path), log_x=log_x, title=title)


def curves_hook(out_dir, filename="curves.svg", log_x=False, title=None):
    """A callback for a training loop: call it after each evaluation and it redraws OUT_DIR/curves.svg.

    Accepts the metrics so far in any of the usual shapes: hook(metrics_list), hook(step, metrics_list),
    hook(metrics=metrics_list); called with no list at all, it re-reads OUT_DIR/metrics.jsonl."""
    svg_path = os.path.join(os.fspath(out_dir), filename)

    def hook(*args, **kwargs):
        candidates = list(args) + list(kwargs.values())
        metrics = next((c for c in candidates if isinstance(c, (list, tuple))
                        and (not c or isinstance(c[0], dict))), None)
        if metrics is None:
            jsonl = os.path.join(os.fspath(out_dir), "metrics.jsonl")
            if not os.path.exists(jsonl):
                return None
            metrics = load_metrics(jsonl)
        return write_curves_svg(svg_path, list(metrics), log_x=log_x, title=title)
    return hook
