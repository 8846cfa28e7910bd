"""Showing the library's pictures in a notebook, and the small helpers the notebooks share.

The viz functions return SVG or HTML *strings*. `show(text)` displays one: in Jupyter through
IPython's display machinery (if IPython is there), under `tools/build_notebooks.py` and the notebook
tests through a hook they install (they store the picture in the .ipynb as Jupyter would), and in a
plain Python session it prints one line saying what it would have shown.

    from transformer_np.viz.notebook import show, table
    show(viz.heatmap_svg(weights, labels))            # an SVG picture under the cell
    show(table([["bigram", 2.49]], ["stage", "held-out loss"]))

`fast_mode()` is True when TNP_NOTEBOOK_FAST=1: the notebooks then train for a few steps only, so
that the tests can run every cell quickly.
"""
import os
from pathlib import Path

from .svg import esc

# Set by tools/build_notebooks.py (and tests/test_notebooks.py) to a function receiving each Rich.
display_hook = None


class Rich:
    """An SVG or HTML fragment that notebook front ends render: Jupyter calls _repr_svg_ / _repr_html_;
    a plain `repr` says what it is."""

    def __init__(self, text, kind=None):
        text = str(text)
        self.kind = kind or ("svg" if text.lstrip().startswith(("<?xml", "<svg")) else "html")
        if self.kind not in ("svg", "html"):
            raise ValueError(f"kind must be 'svg' or 'html', got {kind!r}")
        self.text = text

    def _repr_svg_(self):
        return self.text if self.kind == "svg" else None

    def _repr_html_(self):
        return self.text if self.kind == "html" else None

    def __repr__(self):
        return f"<{self.kind.upper()} picture, {len(self.text):,} characters>"


def show(text, kind=None):
    """Display an SVG / HTML string (or a Rich) under the current cell. Returns None, so a cell that
    ends with show(...) displays the picture once."""
    rich = text if isinstance(text, Rich) else Rich(text, kind)
    if display_hook is not None:
        display_hook(rich)
        return None
    try:
        from IPython.display import display      # only inside Jupyter / IPython; never a dependency
    except ImportError:
        print(repr(rich))
        return None
    display(rich)
    return None


def table(rows, header, digits=4):
    """A small HTML table (numbers rounded to `digits` significant digits) as a Rich: show(table(...))."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        return esc(v)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return Rich(f'<table class="tnp"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>', "html")


def fast_mode():
    """True when the environment asks for a quick run (TNP_NOTEBOOK_FAST=1): tiny sizes and steps."""
    return os.environ.get("TNP_NOTEBOOK_FAST", "") not in ("", "0")


def repo_root():
    """The checkout's root (the folder holding transformer_np/)."""
    return Path(__file__).resolve().parents[2]


def shakespeare_path():
    """tinyshakespeare.txt: $TNP_SHAKESPEARE, else ../shared/data/ next to the checkout; None if absent."""
    candidates = [os.environ.get("TNP_SHAKESPEARE"),
                  repo_root().parent / "shared" / "data" / "tinyshakespeare.txt",
                  repo_root() / "data" / "tinyshakespeare.txt"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None
