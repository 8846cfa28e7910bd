"""The notebooks are tested like code: every notebook's code cells run top to bottom with plain Python
(no Jupyter), in quick mode (TNP_NOTEBOOK_FAST=1: a few training steps); the stored .ipynb is the
current source; the outputs of the cells marked stable (`# %% stable`: seeded, independent of quick
mode) are the ones a fresh run gives; every notebook ends with exercises and their answers."""
import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9]*.py"))


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _builder()
_RUNS = {}
# The notebooks write runs/ in their working directory: a temporary one here, not the checkout's notebooks/.
_WORKDIR = tempfile.TemporaryDirectory(prefix="notebooks-")


def _run(src):
    """Run a notebook once in quick mode (cached for the tests that look at its outputs)."""
    if src not in _RUNS:
        cells = build.parse_source(src.read_text(encoding="utf-8"))
        old = os.environ.get("TNP_NOTEBOOK_FAST")
        os.environ["TNP_NOTEBOOK_FAST"] = "1"
        try:
            _RUNS[src] = cells, build.run_cells(cells, _WORKDIR.name)
        finally:
            if old is None:
                del os.environ["TNP_NOTEBOOK_FAST"]
            else:
                os.environ["TNP_NOTEBOOK_FAST"] = old
    return _RUNS[src]


def _stored(src):
    path = src.parent.parent / (src.stem + ".ipynb")
    assert path.is_file(), f"{path.name} is missing: run python tools/build_notebooks.py {src.stem[:2]}"
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    assert len(SOURCES) >= 6


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(src):
    cells, outputs = _run(src)                     # raises CellError (naming the cell) on any exception
    assert any(out for out in outputs if out)      # it printed or drew something


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_stored_notebook_is_the_current_source(src):
    nb = _stored(src)
    assert nb["nbformat"] == 4
    cells = build.parse_source(src.read_text(encoding="utf-8"))
    stored = [("".join(c["source"]), c["cell_type"]) for c in nb["cells"]]
    assert stored == [(c["source"], c["type"]) for c in cells], \
        f"{src.name} changed since its notebook was built: python tools/build_notebooks.py {src.stem[:2]}"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert sum(bool(c["outputs"]) for c in code) >= len(code) // 2, "a built notebook stores its outputs"


def _comparable(outputs):
    return [(o["output_type"], o.get("name"), {k: "".join(v) for k, v in o.get("data", {}).items()},
             "".join(o.get("text", []))) for o in outputs]


# Numbers (12, -0.3311, 1e-05) and colours (#e7b6bc, and white for the text on a dark cell): what a
# stable-layout cell may change across machines.
_NUMBERS = re.compile(r"#[0-9a-fA-F]{3,8}\b|\bwhite\b|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _layout(outputs):
    def mask(text):
        return _NUMBERS.sub("N", text)
    return [(kind, name, {k: mask(v) for k, v in data.items()}, mask(text))
            for kind, name, data, text in _comparable(outputs)]


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_stable_cells_have_current_outputs(src):
    """'stable' cells store exactly what a fresh run prints; 'stable-layout' cells (numbers from a training
    run, which other BLAS kernels round differently, and training makes the differences grow) the same
    text and pictures with every number and colour masked."""
    nb = _stored(src)
    cells, outputs = _run(src)
    fresh_cells = build.notebook_json(cells, outputs)["cells"]
    for i, cell in enumerate(cells):
        compare = {build.STABLE: _comparable, build.STABLE_LAYOUT: _layout}.get((cell["tags"] or [None])[0])
        if compare is not None:
            assert compare(nb["cells"][i]["outputs"]) == compare(fresh_cells[i]["outputs"]), \
                f"{src.name} cell {i}: stored output is stale: python tools/build_notebooks.py {src.stem[:2]}"


def test_layout_masks_numbers_and_colours_only():
    a = [{"output_type": "stream", "name": "stdout", "text": ["loss 0.18 after 300 steps\n"]},
         {"output_type": "display_data", "data": {"image/svg+xml": ['<rect fill="#e7b6bc" data-v="0.3311"/>']}}]
    b = [{"output_type": "stream", "name": "stdout", "text": ["loss 0.21 after 300 steps\n"]},
         {"output_type": "display_data", "data": {"image/svg+xml": ['<rect fill="#94b5d7" data-v="-1.5e-05"/>']}}]
    c = [{"output_type": "stream", "name": "stdout", "text": ["accuracy 0.18 after 300 steps\n"]}, a[1]]
    assert _layout(a) == _layout(b) and _comparable(a) != _comparable(b)
    assert _layout(a) != _layout(c)


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_notebook_ends_with_exercises_and_answers(src):
    markdown = [c["source"] for c in build.parse_source(src.read_text(encoding="utf-8")) if c["type"] == "markdown"]
    tail = "\n".join(markdown[-3:])
    assert "Exercises" in tail
    assert tail.count("<details>") >= 2 and tail.count("<details>") == tail.count("</details>")


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for src in SOURCES:
        assert f"notebooks/{src.stem}.ipynb" in readme


def test_parse_source_cells_and_markers():
    cells = build.parse_source("# %% [markdown]\n# # Title\n#\n# text\n# %%\nx = 1\n\n# %% stable\nx\n")
    assert cells == [{"type": "markdown", "source": "# Title\n\ntext", "tags": []},
                     {"type": "code", "source": "x = 1", "tags": []},
                     {"type": "code", "source": "x", "tags": ["stable"]}]
    with pytest.raises(ValueError):
        build.parse_source("# %% wrong\nx\n")


def test_run_cells_captures_text_pictures_and_the_last_expression(tmp_path):
    cells = build.parse_source("# %%\nfrom transformer_np.viz.notebook import show\nprint('a')\n"
                               "show('<svg xmlns=\"http://www.w3.org/2000/svg\"/>')\nprint('b')\n1 + 1\n")
    (out,) = build.run_cells(cells, tmp_path)
    assert [o["output_type"] for o in out] == ["stream", "display_data", "stream", "execute_result"]
    assert "image/svg+xml" in out[1]["data"] and out[3]["data"]["text/plain"] == ["2"]
    with pytest.raises(build.CellError):
        build.run_cells(build.parse_source("# %%\n1 / 0\n"), tmp_path)


def test_show_table_and_fast_mode(monkeypatch):
    from transformer_np.viz import notebook
    shown = []
    monkeypatch.setattr(notebook, "display_hook", shown.append)
    assert notebook.show('<?xml version="1.0"?><svg/>') is None
    notebook.show(notebook.table([["a<b", 0.123456]], ["name", "value"], digits=2))
    assert shown[0]._repr_svg_().endswith("<svg/>") and shown[0]._repr_html_() is None
    assert "<td>a&lt;b</td><td>0.12</td>" in shown[1]._repr_html_()
    with pytest.raises(ValueError):
        notebook.Rich("x", kind="png")
    monkeypatch.setenv("TNP_NOTEBOOK_FAST", "1")
    assert notebook.fast_mode()
    monkeypatch.setenv("TNP_NOTEBOOK_FAST", "0")
    assert not notebook.fast_mode()
