"""The pictures: attention heatmap SVG, the attention HTML page, training curves; the capture hook."""
import json
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from transformer_np import Transformer, TransformerLM
from transformer_np import viz
from transformer_np.layers import MultiHeadAttention
from transformer_np.viz.svg import log_ticks, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _softmax_rows(rng, t_q, t_k, causal=False):
    s = rng.normal(size=(t_q, t_k)) * 2
    if causal:
        s = np.where(np.tril(np.ones((t_q, t_k), bool)), s, -np.inf)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cells(root, tag=f"{SVG}rect"):
    return [el for el in root.iter(tag) if "data-w" in el.attrib]


def _grid(root, L, H, T_q, T_k):
    """The (L, H, T_q, T_k) weights read back from an HTML page's heatmaps; checks one cell per entry."""
    got = np.full((L, H, T_q, T_k), np.nan)
    n = 0
    for hm in root.iter(f"{SVG}svg"):
        if hm.get("class") != "hm":
            continue
        for c in _cells(hm):
            got[int(hm.get("data-l")), int(hm.get("data-h")), int(c.get("data-q")), int(c.get("data-k"))] = \
                float(c.get("data-w"))
            n += 1
    assert n == L * H * T_q * T_k and not np.isnan(got).any()
    return got


def _tiny_lm(seed=0, n_layers=2, n_heads=3):
    return TransformerLM(vocab_size=20, d_model=12, n_heads=n_heads, n_layers=n_layers, d_ff=24, max_len=16,
                         seed=seed)


# ------------------------------------------------------------------------------------ capture hook

def test_capture_is_off_by_default_and_on_inside_the_context():
    model = _tiny_lm()
    ids = np.array([[1, 2, 3, 4, 5]])
    model.forward(ids)
    attns = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    assert len(attns) == 2
    assert all(m.record_attention is None for m in attns)          # off: nothing kept
    with viz.capture_attention(model) as cap:
        model.forward(ids)
        model.forward(ids[:, :3])
    assert cap.names == ["h.0.attn", "h.1.attn"]
    assert [len(cap.records(n)) for n in cap.names] == [2, 2]
    assert cap.records("h.0.attn")[0].shape == (1, 3, 5, 5)
    # A copy of exactly what the layer computed.
    np.testing.assert_array_equal(cap.records("h.1.attn")[-1], model.h[1].attn.attn_weights)
    assert cap.records("h.1.attn")[-1] is not model.h[1].attn.attn_weights
    # Off again afterwards (back to the class default), and records stay with the capture.
    assert all(m.record_attention is None and "record_attention" not in vars(m) for m in attns)
    model.forward(ids)
    assert [len(cap.records(n)) for n in cap.names] == [2, 2]
    # Parameters are unaffected by the hook.
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in _tiny_lm().named_parameters()]
    layers = cap.by_layer()
    assert len(layers) == 2 and layers[0].shape == (3, 3, 3)
    np.testing.assert_allclose(layers[0].sum(axis=-1), 1.0, rtol=1e-5)


def test_capture_turns_off_after_an_exception():
    model = _tiny_lm()
    with pytest.raises(RuntimeError):
        with viz.capture_attention(model):
            raise RuntimeError("boom")
    assert all(m.record_attention is None for m in model.modules() if isinstance(m, MultiHeadAttention))


def test_capture_encoder_decoder_names_and_kinds():
    model = Transformer(src_vocab_size=11, tgt_vocab_size=13, d_model=8, n_heads=2, n_layers=2, d_ff=16,
                        max_len=10, seed=1)
    src, tgt = np.array([[1, 2, 3, 4]]), np.array([[0, 5, 6]])
    with viz.capture_attention(model) as cap:
        model.forward(src, tgt)
    assert any(n.startswith("encoder.") for n in cap.names)
    cross = cap.by_layer("cross")
    assert len(cross) == 2 and cross[0].shape == (2, 3, 4)           # rows: target, columns: source
    assert len(cap.by_layer("self")) == 4
    assert [a.shape for a in cap.by_layer("encoder.")] == [(2, 4, 4)] * 2


# ------------------------------------------------------------------------------------ heatmap SVG

def test_heatmap_svg_has_one_cell_per_pair_with_the_weight(tmp_path):
    rng = np.random.default_rng(0)
    w = _softmax_rows(rng, 5, 7)
    q_labels = ["a", "<b>", "c&d", "\u2423e", '"q"']
    k_labels = [f"k{i}" for i in range(7)]
    path = viz.write_attention_svg(tmp_path / "head.svg", w, q_labels, k_labels, title="head <0> & co")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    cells = _cells(root)
    assert len(cells) == 5 * 7
    got = np.zeros((5, 7))
    for c in cells:
        got[int(c.get("data-q")), int(c.get("data-k"))] = float(c.get("data-w"))
    np.testing.assert_allclose(got, w, atol=1e-4)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-3)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for label in q_labels + k_labels:                                  # labels escaped, then parsed back
        assert label in texts
    assert "head <0> & co" in texts


def test_heatmap_rejects_mismatched_labels():
    with pytest.raises(ValueError):
        viz.heatmap_svg(np.eye(3), ["a", "b"])


# ------------------------------------------------------------------------------------ HTML page

class _CellParser(HTMLParser):
    """Collects the heatmap cells and the script the way a browser's HTML parser sees them."""

    def __init__(self):
        super().__init__()
        self.cells, self.scripts, self.external = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "rect" and "data-w" in a:
            self.cells.append(a)
        if tag == "script":
            self.scripts += 1
            if "src" in a:
                self.external.append(a["src"])
        if tag == "link" and "href" in a:
            self.external.append(a["href"])

    handle_startendtag = handle_starttag


def test_attention_html_grid_cells_rows_sum_to_one(tmp_path):
    rng = np.random.default_rng(1)
    L, H, T = 3, 4, 6
    layers = [np.stack([_softmax_rows(rng, T, T, causal=True) for _ in range(H)]) for _ in range(L)]
    tokens = ["<s>", "a&b", "\u2423cat", "x<y", "'q'", "\u23ce"]
    path = viz.write_attention_html(tmp_path / "attn.html", tokens, layers, title="t <&>")
    text = path and open(path, encoding="utf-8").read()
    # Well-formed XML (so also unambiguous HTML), and no external resources.
    root = ET.fromstring(text)
    assert "http" not in "".join(a for el in root.iter() for k, a in el.attrib.items() if k in ("src", "href"))
    assert not _cells(root, "{http://www.w3.org/1999/xhtml}rect")     # all cells are SVG elements
    got = _grid(root, L, H, T, T)
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, np.stack(layers), atol=1e-4)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-3)
    # The browser's view: same cells, one inline script, nothing fetched.
    p = _CellParser()
    p.feed(text)
    assert len(p.cells) == L * H * T * T and p.scripts == 1 and p.external == []
    # Token labels survive escaping (they are stored as JSON in an attribute for the script).
    labels_div = next(el for el in root.iter() if el.get("class") == "labels")
    assert json.loads(labels_div.get("data-q")) == tokens
    assert "t <&>" in "".join(root.itertext())


def test_attention_html_for_lm_runs_the_model(tmp_path):
    model = _tiny_lm(n_layers=2, n_heads=3)
    ids = np.array([3, 1, 4, 1, 5, 9, 2])
    path = viz.attention_html_for_lm(model, ids, [str(i) for i in ids], tmp_path / "lm.html", max_tokens=5)
    root = ET.parse(path).getroot()
    cells = _cells(root)
    assert len(cells) == 2 * 3 * 5 * 5                                 # truncated to the last 5 tokens
    causal_ok = all(float(c.get("data-w")) == 0 for c in cells if int(c.get("data-k")) > int(c.get("data-q")))
    assert causal_ok
    assert model.training                                              # mode restored
    assert all(m.record_attention is None for m in model.modules() if isinstance(m, MultiHeadAttention))


def test_attention_html_for_seq2seq_has_three_sections(tmp_path):
    model = Transformer(src_vocab_size=11, tgt_vocab_size=13, d_model=8, n_heads=2, n_layers=1, d_ff=16,
                        max_len=10, seed=1)
    path = viz.attention_html_for_seq2seq(model, [1, 2, 3, 4], [0, 5, 6], list("abcd"), list("xyz"),
                                          tmp_path / "s2s.html")
    root = ET.parse(path).getroot()
    sections = [el for el in root.iter() if el.get("class") == "attn"]
    assert [(s.get("data-tq"), s.get("data-tk")) for s in sections] == [("4", "4"), ("3", "3"), ("3", "4")]
    assert len(_cells(root)) == 2 * (16 + 9 + 12)


# ------------------------------------------------------------------------------------ labels

class _FakeByteTokenizer:
    pieces = {0: b" the", 1: b"\n", 2: b"cat", 3: b"\xe2", 4: b"<&>"}

    def decode_bytes(self, ids):
        return b"".join(self.pieces[i] for i in ids)


def test_token_labels_make_whitespace_visible():
    assert viz.token_labels(_FakeByteTokenizer(), [0, 1, 2, 3, 4]) == ["\u2423the", "\u23ce", "cat", "\\xe2", "<&>"]
    assert viz.readable("\u0120world\u010a") == "\u2423world\u23ce"       # GPT-2's byte-level markers
    assert viz.token_labels(["a", "b", " "], [2, 0]) == ["\u2423", "a"]
    assert viz.token_labels(None, np.array([[7, 8]])) == ["7", "8"]


def test_token_labels_with_the_gpt2_tokenizer():
    tok_mod = pytest.importorskip("transformer_np.tokenizer")
    try:
        tok = tok_mod.BPETokenizer.from_pretrained("gpt2")
    except Exception as e:                                              # not shipped in this checkout
        pytest.skip(f"GPT-2 tokenizer not available: {e}")
    ids = tok.encode("Hello world\nbye")
    labels = viz.token_labels(tok, ids)
    assert "".join(labels).replace("\u2423", " ").replace("\u23ce", "\n") == "Hello world\nbye"
    assert "\u2423world" in labels


# ------------------------------------------------------------------------------------ curves

def _metrics(n=50):
    out = []
    for s in range(0, n * 10, 10):
        rec = {"step": s, "train_loss": 3 * math.exp(-s / 100) + 0.01, "train_acc": min(1.0, s / 200), "lr": 1e-3}
        if s % 50 == 0:
            rec.update(val_loss=3 * math.exp(-s / 300) + 0.2, val_acc=min(0.9, s / 400))
        out.append(rec)
    return out


@pytest.mark.parametrize("log_x", [False, True])
def test_curves_svg_has_a_path_per_series(tmp_path, log_x):
    metrics = _metrics()
    path = viz.write_curves_svg(tmp_path / "curves.svg", metrics, log_x=log_x, title="run <1>",
                                marks={"train 100%": 200})
    root = ET.parse(path).getroot()
    paths = {p.get("data-series"): p for p in root.iter(f"{SVG}path") if p.get("class") == "series"}
    assert set(paths) == {"train_loss", "val_loss", "train_acc", "val_acc"}
    for key, p in paths.items():
        expected = sum(1 for m in metrics if key in m and (not log_x or m["step"] > 0))
        assert int(p.get("data-points")) == expected
        assert p.get("d").count("L") == expected - 1                   # one segment between each pair
    legend = " ".join("".join(g.itertext()) for g in root.iter(f"{SVG}g") if g.get("class") == "legend-item")
    assert "train loss" in legend and "held-out accuracy" in legend
    panels = [g.get("data-panel") for g in root.iter(f"{SVG}g") if g.get("class") == "panel"]
    assert panels == ["loss", "accuracy"]
    ticks = [t for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert len(ticks) >= 8


def test_curves_from_jsonl_skips_partial_lines(tmp_path):
    lines = [json.dumps(m) for m in _metrics(10)] + ['{"step": 100, "train_lo']   # being written
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    out = viz.write_curves_from_jsonl(tmp_path / "metrics.jsonl")
    assert out.endswith("curves.svg")
    root = ET.parse(out).getroot()
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]) == 4


def test_curves_empty_and_loss_only(tmp_path):
    ET.parse(viz.write_curves_svg(tmp_path / "empty.svg", []))
    root = ET.parse(viz.write_curves_svg(tmp_path / "l.svg", [{"step": 1, "loss": 2.0},
                                                                {"step": 2, "loss": float("nan")},
                                                                {"step": 3, "loss": 1.0}])).getroot()
    series = [p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]
    assert len(series) == 1 and series[0].get("d").count("M") == 2    # the NaN breaks the line


def test_curves_with_one_evaluation_draw_the_point(tmp_path):
    one = [{"step": 250, "train_loss": 2.7, "heldout_loss": 2.4, "token_accuracy": 0.3}]
    root = ET.parse(viz.write_curves_svg(tmp_path / "one.svg", one, title="text / lm: runs/x")).getroot()
    points = {c.get("data-series"): c for c in root.iter(f"{SVG}circle") if c.get("class") == "point"}
    assert set(points) == {"train_loss", "heldout_loss", "token_accuracy"}
    frame = next(r for r in root.iter(f"{SVG}rect") if r.get("stroke") == "#444")
    left, width = float(frame.get("x")), float(frame.get("width"))
    assert left < float(points["heldout_loss"].get("cx")) < left + width        # inside the frame, not an edge
    assert any(t.text == "text / lm: runs/x" for t in root.iter(f"{SVG}text"))


def test_train_toy_curves_have_the_task_and_directory_as_title(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    root_dir = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, str(root_dir / "train_toy.py"), "--task", "copy", "--length", "3",
                        "--symbols", "5", "--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "32",
                        "--steps", "5", "--eval-every", "5", "--eval-size", "16", "--out", str(out)],
                       capture_output=True, text=True, cwd=root_dir, timeout=120)
    assert r.returncode == 0, r.stderr
    svg = ET.parse(out / "curves.svg").getroot()
    assert any(t.text == f"copy / lm: {out}" for t in svg.iter(f"{SVG}text"))
    assert [c for c in svg.iter(f"{SVG}circle") if c.get("class") == "point"]    # the single evaluation


def test_tick_helpers():
    assert nice_ticks(0, 1, 5) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert log_ticks(1, 10000) == [1, 10, 100, 1000, 10000]
    assert 2 in log_ticks(1, 50)


def test_curves_hook_accepts_the_usual_call_shapes(tmp_path):
    hook = viz.curves_hook(tmp_path)
    assert hook() is None                                              # nothing yet
    metrics = _metrics(5)
    for call in (lambda: hook(metrics), lambda: hook(40, metrics), lambda: hook(metrics=metrics)):
        (tmp_path / "curves.svg").unlink(missing_ok=True)
        call()
        ET.parse(tmp_path / "curves.svg")
    (tmp_path / "curves.svg").unlink()
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(m) for m in metrics))
    hook({"step": 3})                                                  # a single record: re-read the file
    root = ET.parse(tmp_path / "curves.svg").getroot()
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]) == 4


def test_attention_html_for_model_dispatches(tmp_path):
    from transformer_np import EncoderClassifier
    clf = EncoderClassifier(vocab_size=9, n_classes=2, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=6, seed=0)
    root = ET.parse(viz.attention_html_for_model(clf, [1, 2, 3], tmp_path / "c.html")).getroot()
    assert len(_cells(root)) == 2 * 2 * 9
    lm = _tiny_lm()
    root = ET.parse(viz.attention_html_for_model(lm, np.array([[1, 2, 3, 4]]), tmp_path / "l.html",
                                                 labels=list("abcd"))).getroot()
    assert len(_cells(root)) == 2 * 3 * 16
    with pytest.raises(TypeError):
        viz.attention_html_for_model(object(), [1], tmp_path / "x.html")


def test_attention_html_for_trainer_uses_a_held_out_example(tmp_path):
    from types import SimpleNamespace

    class Task:
        def render(self, ids):
            return " ".join("=" if i == 0 else str(i) for i in ids)

    lm = _tiny_lm()
    held = {"inputs": np.array([[3, 4, 0, 7, 7], [1, 1, 1, 1, 1]]), "prompt": np.array([[3, 4, 0]] * 2)}
    trainer = SimpleNamespace(model=lm, heldout=held, task=Task(), cfg=SimpleNamespace(arch="lm", task="modadd"))
    root = ET.parse(viz.attention_html_for_trainer(trainer, tmp_path / "t.html")).getroot()
    labels = next(el for el in root.iter() if el.get("class") == "labels")
    assert json.loads(labels.get("data-q")) == ["3", "4", "=", "7", "7"]
    assert len(_cells(root)) == 2 * 3 * 25


def test_gpt2_attention_page_with_real_token_text(tmp_path):
    from pathlib import Path
    fixture = Path(__file__).parent / "fixtures" / "gpt2_tiny" / "hf_layout"
    gpt2 = pytest.importorskip("transformer_np.models.gpt2")
    if not fixture.is_dir():
        pytest.skip("no tiny GPT-2 fixture")
    model = gpt2.GPT2.from_pretrained(fixture)

    class Tok:                                                          # a byte-level stand-in
        def decode_bytes(self, ids):
            return b"".join(bytes([32 + i % 90]) if i % 7 else b" x" for i in ids)
    ids = np.arange(1, 9)
    labels = viz.token_labels(Tok(), ids)
    assert labels[6] == "\u2423x"
    path = viz.attention_html_for_lm(model, ids, labels, tmp_path / "gpt2.html", title="tiny GPT-2")
    root = ET.parse(path).getroot()
    got = _grid(root, len(model.h), model.n_heads, 8, 8)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, atol=1e-3)
    assert np.all(got[..., np.triu_indices(8, 1)[0], np.triu_indices(8, 1)[1]] == 0)   # causal


def _grokking_module():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).parent.parent / "examples" / "grokking.py"
    spec = importlib.util.spec_from_file_location("grokking_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grokking_split_keeps_both_orders_together():
    g = _grokking_module()
    x_tr, y_tr, x_ho, y_ho = g.modular_addition_data(11, 0.4, seed=3)
    assert len(x_tr) + len(x_ho) == 121
    train_pairs = {(a, b) for a, b, _ in x_tr}
    assert all((b, a) in train_pairs for a, b in train_pairs)
    assert not train_pairs & {(a, b) for a, b, _ in x_ho}
    assert np.array_equal(y_tr, (x_tr[:, 0] + x_tr[:, 1]) % 11) and np.all(x_tr[:, 2] == 11)


def test_grokking_script_runs_and_draws(tmp_path, capsys):
    g = _grokking_module()
    out = tmp_path / "g.svg"
    summary = g.main(["--p", "7", "--frac", "0.5", "--d-model", "16", "--d-ff", "32", "--max-steps", "30",
                      "--eval-every", "5", "--out", str(out)])
    assert summary["steps"] == 30 and summary["split"] == "symmetric"
    root = ET.parse(out).getroot()
    # Two rows (log steps, linear steps) of two panels (loss, accuracy), each with train and held-out.
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "series"]) == 8
    assert len((tmp_path / "g.jsonl").read_text().splitlines()) == 7     # step 1 and every 5th
    assert json.loads((tmp_path / "g.summary.json").read_text())["steps"] == 30
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["p"] == 7
    assert g.main(["--replot", "--out", str(out)])["steps"] == 30     # redraws from the saved files


# ------------------------------------------------------------ labels of split characters, neuron view

class _SplitEmojiTokenizer:
    pieces = {0: b" \xf0\x9f\x91", 1: b"\x8d", 2: b"\xe2\x80", 3: b"\x8d", 4: b"\xe2", 5: b"ok"}

    def decode_bytes(self, ids):
        return b"".join(self.pieces[i] for i in ids)


def test_token_labels_show_split_characters_as_characters():
    tok = _SplitEmojiTokenizer()
    assert viz.token_labels(tok, [0, 1, 5]) == ["\u2423\U0001f44d\u2026", "\u2026\U0001f44d", "ok"]
    # A zero-width joiner split over two tokens: its code point, not an invisible label or raw bytes.
    assert viz.token_labels(tok, [2, 3]) == ["U+200D\u2026", "\u2026U+200D"]
    assert viz.token_labels(tok, [4, 5]) == ["\\xe2", "ok"]                 # a byte no character completes
    assert viz.attention.joined_labels(viz.token_labels(tok, [0, 1, 5])) == "\u2423\U0001f44dok"


def test_attention_page_title_and_note_for_a_long_prompt(tmp_path):
    model = _tiny_lm()
    ids = np.arange(1, 15) % 20
    path = viz.attention_html_for_lm(model, ids, [f"t{i}" for i in range(14)], tmp_path / "a.html", max_tokens=10)
    text = path.read_text(encoding="utf-8") if hasattr(path, "read_text") else open(path, encoding="utf-8").read()
    assert "keeps only the last 10 of the 14 tokens" in text
    root = ET.parse(path).getroot()
    assert len(_cells(root)) == 2 * 3 * 10 * 10


def test_neuron_view_data_reproduces_the_attention_weights(tmp_path):
    """The page's stored queries and keys give back the heatmaps' weights: softmax(q.k / sqrt(d_k)) with
    the causal mask; so the neuron view explains exactly the numbers the heatmaps show."""
    model = _tiny_lm(n_heads=2)
    ids = np.array([3, 1, 4, 1, 5, 9])
    root = ET.parse(viz.attention_html_for_lm(model, ids, list("abcdef"), tmp_path / "n.html")).getroot()
    panel = next(el for el in root.iter() if el.get("class") == "neuron-view")
    data = json.loads(panel.get("data-vectors"))
    q, k = np.array(data["q"]), np.array(data["k"])                      # (L, H, T, d_k)
    assert q.shape == (2, 2, 6, 6) and k.shape == q.shape
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(6)
    scores = np.where(np.tril(np.ones((6, 6), bool)), scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(_grid(root, 2, 2, 6, 6), expected, atol=2e-3)


def test_neuron_view_svg_rows_add_up_to_the_dot_products():
    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(4, 8)), rng.normal(size=(5, 8))
    root = ET.fromstring(viz.attention.neuron_view_svg(q, k, list("abcd"), list("vwxyz"), query=2))
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "key"]
    assert len(rows) == 5
    for j, g in enumerate(rows):
        products = [float(r.get("data-p")) for r in g.iter(f"{SVG}rect") if "data-p" in r.attrib]
        np.testing.assert_allclose(products, q[2] * k[j], rtol=1e-3)
        assert float(g.get("data-dot")) == pytest.approx(q[2] @ k[j], rel=1e-5)
    weights = [float(g.get("data-weight")) for g in rows]
    s = k @ q[2] / math.sqrt(8)
    np.testing.assert_allclose(weights, np.exp(s) / np.exp(s).sum(), rtol=1e-4)


def test_heatmap_and_matrix_have_a_labelled_colour_scale():
    root = ET.fromstring(viz.heatmap_svg(np.eye(3), ["a", "b", "c"]))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "attention weight" in texts and {"0", "0.5", "1"} <= set(texts)
    root = ET.fromstring(viz.matrix_svg(np.array([[-2.0, 1.0]]), xlabel="channel", ylabel="position",
                                        value_label="PE value"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"channel", "position", "PE value", "-2", "2"} <= set(texts)


# ------------------------------------------------------------------------------------ diagrams

def _texts(svg):
    return [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_lm_diagram_has_the_models_shapes_on_its_arrows():
    from transformer_np.viz import diagram
    model = TransformerLM(vocab_size=65, d_model=48, n_heads=3, n_layers=2, d_ff=96, max_len=16, seed=0)
    texts = _texts(diagram.lm_diagram_svg(model, seq_len=8))
    assert texts.count("(B, 8, 48)") >= 8 and "(B, 8)" in texts and "(B, 8, 65)" in texts
    assert any("\u00d7 2 decoder blocks" in t for t in texts)
    assert any("3 heads of 16" in t for t in texts) and any("(B, 8, 96)" in t for t in texts)
    assert texts.count("+") == 2                                        # two residual additions per block


def test_block_and_encoder_decoder_diagrams():
    from transformer_np.viz import diagram
    block = ET.fromstring(diagram.decoder_block_svg(64, 4, 256, seq_len=10, pre_ln=False))
    assert len([c for c in block.iter(f"{SVG}circle") if c.get("r") == str(diagram.ADD_R)]) == 2
    model = Transformer(src_vocab_size=11, tgt_vocab_size=13, d_model=32, n_heads=4, n_layers=3, d_ff=64,
                        max_len=12, seed=0)
    texts = _texts(diagram.encoder_decoder_diagram_svg(model, src_len=7, tgt_len=9))
    assert "(B, 7, 32)" in texts and "(B, 9, 13)" in texts
    assert any("crossattention" in t and "(B, 4, 9, 7)" in t for t in texts)
    assert any("\u00d7 3 encoder blocks" in t for t in texts) and any("\u00d7 3 decoder blocks" in t for t in texts)
    with pytest.raises(TypeError):
        diagram.lm_diagram_svg(object())


def test_train_toy_attention_example_picks_the_held_out_example(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "train_toy.py"
    common = [sys.executable, str(script), "--task", "reverse", "--length", "3", "--steps", "2", "--eval-every", "2",
              "--eval-size", "4", "--d-model", "16", "--d-ff", "16", "--attention", str(tmp_path / "a.html")]
    r = subprocess.run(common + ["--out", str(tmp_path / "run"), "--attention-example", "2"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    title = ET.parse(tmp_path / "a.html").getroot().find(".//{http://www.w3.org/1999/xhtml}title").text
    assert "held-out example 2" in title
    r = subprocess.run(common + ["--out", str(tmp_path / "run2"), "--attention-example", "4"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == \
        "train_toy.py: error: --attention-example 4: choose 0..3 (the held-out set has 4 examples)"


def test_gpt2_infer_attention_page_shows_emoji_as_characters(tmp_path):
    """A byte-level tokenizer splits 👍 into 4 tokens: each label shows the character (… where it goes
    on), and the page title is the prompt's text, not its repr (no literal \\u200d)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    fixtures = root / "tests" / "fixtures" / "gpt2_tiny"
    if not (fixtures / "byte_tokenizer").is_dir():
        pytest.skip("no byte-level tokenizer fixture")
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    for f in [fixtures / "hf_layout" / n for n in ("config.json", "model.safetensors")] + \
             [fixtures / "byte_tokenizer" / n for n in ("vocab.json", "merges.txt")]:
        shutil.copy(f, model_dir)
    prompt = "hi \U0001f44d\u200d\U0001f44d"
    r = subprocess.run([sys.executable, str(root / "gpt2_infer.py"), "--model", str(model_dir), "-p", prompt, "-n", "2",
                        "--temperature", "0", "--attention", str(tmp_path / "a.html")], capture_output=True,
                       text=True, timeout=120, cwd=root)
    assert r.returncode == 0, r.stderr
    page = ET.parse(tmp_path / "a.html").getroot()
    title = page.find(".//{http://www.w3.org/1999/xhtml}title").text
    assert prompt in title and "\\u200d" not in title
    labels = json.loads(next(el for el in page.iter() if el.get("class") == "labels").get("data-q"))
    thumb = ["\U0001f44d\u2026", "\u2026\U0001f44d\u2026", "\u2026\U0001f44d\u2026", "\u2026\U0001f44d"]
    assert labels[:3] == ["h", "i", "\u2423"] and labels[3:7] == thumb and labels[10:] == thumb
    assert labels[7:10] == ["U+200D\u2026", "\u2026U+200D\u2026", "\u2026U+200D"]        # the joiner's 3 bytes


def test_heads_grid_is_one_picture_with_a_panel_per_layer_and_head():
    rng = np.random.default_rng(0)
    layers = [rng.dirichlet(np.ones(4), size=(3, 4)) for _ in range(2)]      # 2 layers x 3 heads, T = 4
    svg = viz.heads_grid_svg(layers, ["a", "b", "c", "d"], title="grid")
    root = ET.fromstring(svg.split("?>", 1)[1])
    panels = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "heatmap"]
    assert [(g.get("data-layer"), g.get("data-head")) for g in panels] == \
        [(str(l), str(h)) for l in range(2) for h in range(3)]
    assert all(len(g.findall("{http://www.w3.org/2000/svg}rect")) == 16 + 1 for g in panels)   # cells + frame
    assert svg.count("bold\">head ") == 3 and svg.count("bold\">layer ") == 2          # column and row titles
    with pytest.raises(ValueError, match="one \\(T_q, T_k\\)"):
        viz.heads_grid_svg([layers[0], layers[1][:, :3, :3]], ["a", "b", "c", "d"])
