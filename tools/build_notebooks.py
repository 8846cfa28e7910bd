"""Build the notebooks: notebooks/src/NN_name.py -> notebooks/NN_name.ipynb, with every output stored.

    python tools/build_notebooks.py                  # all of them (a few minutes each on 2 cores)
    python tools/build_notebooks.py 02 05            # those whose file name starts with 02 or 05
    TNP_NOTEBOOK_FAST=1 python tools/build_notebooks.py --check   # run all cells quickly, write nothing

No Jupyter needed. A source is plain Python with cell markers (the "percent" format editors know):

    # %% [markdown]
    # # A title
    # Some *markdown*: each line starts with "# ".
    # %%
    x = 1 + 1                 # a code cell
    x                         # a last bare expression is shown, as Jupyter shows it
    # %% stable
    print("same every run")   # a code cell whose stored output the tests compare with a fresh run
    # %% stable-layout
    train_and_show()          # compared with its numbers masked: a training run's numbers depend on the
                              # BLAS kernels (float rounding grows chaotically over the steps), its text not

Code cells run top to bottom in one namespace, with the notebook folder as the working directory.
Their printed text is stored as stream output; a picture passed to transformer_np.viz.notebook.show()
(or a value with _repr_svg_ / _repr_html_ as the last expression) as SVG / HTML display data, all in
nbformat 4 JSON, so the notebooks read on GitHub without running. A cell that raises stops the build
with the cell's number and the traceback, and no file is written.
"""
import argparse
import ast
import contextlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
sys.path.insert(0, str(ROOT))
# Small matrices: one BLAS thread is faster than two fighting over a busy machine (before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from transformer_np.viz import notebook  # noqa: E402

MARKER = "# %%"
# NumPy's documented print defaults (set_printoptions() without arguments does not restore them).
NUMPY_PRINT_DEFAULTS = dict(edgeitems=3, infstr="inf", linewidth=75, nanstr="nan", precision=8, suppress=False,
                            threshold=1000, formatter=None, sign="-", floatmode="maxprec", legacy=False)
STABLE = "stable"
STABLE_LAYOUT = "stable-layout"


# --------------------------------------------------------------------------------------- parsing

def parse_source(text):
    """The cells of a percent-format source: [{"type": "markdown" | "code", "source": str, "tags": [...]}]."""
    cells, current = [], None
    for line in text.splitlines():
        if line.startswith(MARKER):
            rest = line[len(MARKER):].strip()
            kind = "markdown" if rest.startswith("[markdown]") else "code"
            tags = [rest] if kind == "code" and rest in (STABLE, STABLE_LAYOUT) else []
            if kind == "code" and rest not in ("", STABLE, STABLE_LAYOUT):
                raise ValueError(f"unknown cell marker {line!r} (use '# %%', '# %% stable', "
                                 f"'# %% stable-layout' or '# %% [markdown]')")
            current = {"type": kind, "lines": [], "tags": tags}
            cells.append(current)
        elif current is None:
            if line.strip():
                raise ValueError(f"text before the first cell marker: {line!r}")
        elif current["type"] == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"markdown line without '# ': {line!r}")
            current["lines"].append(line[2:] if line.startswith("# ") else line[1:])
        else:
            current["lines"].append(line)
    out = []
    for c in cells:
        lines = c["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        out.append({"type": c["type"], "source": "\n".join(lines), "tags": c["tags"]})
    return [c for c in out if c["source"]]


# ------------------------------------------------------------------------------------- executing

class _Outputs:
    """Collects one cell's outputs in order: printed text runs, then pictures as they are shown."""

    def __init__(self):
        self.items, self._text = [], {"stdout": io.StringIO(), "stderr": io.StringIO()}

    def stream(self, name):
        return _Stream(self, name)

    def _flush(self):
        for name, buf in self._text.items():
            if buf.getvalue():
                self.items.append({"output_type": "stream", "name": name, "text": _lines(buf.getvalue())})
                self._text[name] = io.StringIO()

    def write(self, name, s):
        other = "stderr" if name == "stdout" else "stdout"
        if self._text[other].getvalue():            # keep the order of interleaved stdout / stderr
            self._flush()
        self._text[name].write(s)

    def display(self, value, execution_count=None):
        self._flush()
        data = mime_bundle(value)
        if execution_count is None:
            self.items.append({"output_type": "display_data", "data": data, "metadata": {}})
        else:
            self.items.append({"output_type": "execute_result", "execution_count": execution_count,
                               "data": data, "metadata": {}})

    def finish(self):
        self._flush()
        return self.items


class _Stream(io.TextIOBase):
    def __init__(self, outputs, name):
        self.outputs, self.name = outputs, name

    def write(self, s):
        self.outputs.write(self.name, s)
        return len(s)


def _lines(text):
    """nbformat stores multi-line strings as a list of lines, each keeping its newline."""
    return text.splitlines(keepends=True)


def mime_bundle(value):
    data = {}
    for method, mime in (("_repr_svg_", "image/svg+xml"), ("_repr_html_", "text/html")):
        text = getattr(value, method, lambda: None)()
        if text:
            data[mime] = _lines(text)
    data["text/plain"] = _lines(repr(value))
    return data


def run_cells(cells, workdir, log=None):
    """Execute the code cells in one namespace (cwd = workdir); return a list of outputs per cell
    (None for markdown). Raises CellError naming the cell when one fails."""
    import numpy as np
    namespace = {"__name__": "__main__"}
    results, count = [], 0
    old_cwd, old_hook = os.getcwd(), notebook.display_hook
    # A notebook may change NumPy's print options (as a reader would): each run starts from, and
    # leaves behind, the defaults, so that one notebook's settings cannot change another's outputs.
    old_print, old_err = np.get_printoptions(), np.geterr()
    np.set_printoptions(**NUMPY_PRINT_DEFAULTS)
    os.chdir(workdir)
    try:
        for index, cell in enumerate(cells):
            if cell["type"] != "code":
                results.append(None)
                continue
            count += 1
            outputs = _Outputs()
            notebook.display_hook = outputs.display
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stdout(outputs.stream("stdout")), \
                        contextlib.redirect_stderr(outputs.stream("stderr")):
                    value = _exec_cell(cell["source"], namespace, f"<cell {index}>")
                if value is not None:
                    outputs.display(value, count)
            except Exception as e:
                raise CellError(index, cell["source"], traceback.format_exc()) from e
            results.append(outputs.finish())
            if log:
                log(f"  cell {index:2d}  {time.perf_counter() - t0:6.1f}s")
    finally:
        notebook.display_hook = old_hook
        np.set_printoptions(**{k: v for k, v in old_print.items() if k in NUMPY_PRINT_DEFAULTS})
        np.seterr(**old_err)
        os.chdir(old_cwd)
    return results


def _exec_cell(source, namespace, name):
    """exec the cell; if it ends with a bare expression, evaluate that last and return its value."""
    tree = ast.parse(source, name)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), namespace)
    if last is not None:
        return eval(compile(last, name, "eval"), namespace)
    return None


class CellError(Exception):
    def __init__(self, index, source, tb):
        super().__init__(f"cell {index} failed:\n{source}\n{tb}")
        self.index = index


# ------------------------------------------------------------------------------------- writing

def notebook_json(cells, outputs):
    """nbformat 4.5 document (a dict) from parsed cells and their outputs."""
    nb_cells, count = [], 0
    for i, (cell, out) in enumerate(zip(cells, outputs)):
        meta = {"tags": cell["tags"]} if cell["tags"] else {}
        base = {"cell_type": cell["type"], "id": f"cell-{i}", "metadata": meta, "source": _lines(cell["source"])}
        if cell["type"] == "code":
            count += 1
            base.update(execution_count=count, outputs=out or [])
        nb_cells.append(base)
    return {"cells": nb_cells,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python", "version": sys.version.split()[0]}},
            "nbformat": 4, "nbformat_minor": 5}


def write_notebook(path, nb):
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def sources(prefixes=()):
    found = sorted(SOURCES.glob("[0-9]*.py"))
    if prefixes:
        found = [p for p in found if p.name.startswith(tuple(prefixes))]
    return found


def build(src, check=False):
    cells = parse_source(src.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    print(f"{src.name}: {sum(c['type'] == 'code' for c in cells)} code cells", flush=True)
    outputs = run_cells(cells, NOTEBOOKS, log=lambda s: print(s, flush=True))
    target = NOTEBOOKS / (src.stem + ".ipynb")
    if not check:
        write_notebook(target, notebook_json(cells, outputs))
    print(f"{'checked' if check else 'wrote'} {target.relative_to(ROOT)} in {time.perf_counter() - t0:.1f}s",
          flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="only the sources whose file name starts with one of these")
    ap.add_argument("--check", action="store_true", help="run every cell but write no file")
    args = ap.parse_args(argv)
    todo = sources(args.names)
    if not todo:
        sys.exit(f"build_notebooks.py: error: no source in {SOURCES} matches {args.names}")
    for src in todo:
        try:
            build(src, args.check)
        except CellError as e:
            sys.exit(f"build_notebooks.py: error: {src.name}: {e}")


if __name__ == "__main__":
    main()
