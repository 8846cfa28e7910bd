"""docs/GUIDE.md stays true to the code: every `path::Name` reference exists, every quoted code line is in
the function it is attributed to, every linked figure exists, and the parameter-count formulas hold."""
import ast
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GUIDE = os.path.join(ROOT, "docs", "GUIDE.md")

# A code span that is exactly a path to a .py file, optionally followed by ::Name or ::Class.method.
REF = re.compile(r"`([A-Za-z0-9_./-]+\.py)(?:::([A-Za-z_][A-Za-z0-9_.]*))?`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
QUOTE = re.compile(r"```python\n# ([A-Za-z0-9_./-]+\.py)::([A-Za-z_][A-Za-z0-9_.]*)\n(.*?)```", re.S)


def _guide():
    with open(GUIDE, encoding="utf-8") as f:
        return f.read()


def _definition(path, qualname):
    """The ast node of `qualname` (function, class, or Class.method) in the file, or None."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    scope = tree.body
    node = None
    for part in qualname.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                     and n.name == part), None)
        if node is None:
            # Module-level names assigned rather than defined (constants) count too, at the top level.
            if scope is tree.body and "." not in qualname:
                for n in tree.body:
                    if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == part for t in n.targets):
                        return n
            return None
        scope = node.body
    return node


def _references():
    return sorted(set(REF.findall(_guide())))


def test_guide_has_references_and_figures():
    refs = _references()
    assert len(refs) >= 40
    assert len([r for r in refs if r[1]]) >= 35
    assert len(LINK.findall(_guide())) >= 8


@pytest.mark.parametrize("path,name", _references())
def test_code_reference_exists(path, name):
    assert os.path.isfile(os.path.join(ROOT, path)), f"{path} does not exist"
    if name:
        assert _definition(path, name) is not None, f"{path} has no {name}"


def _normalise(line):
    return " ".join(line.split())


def test_quoted_lines_are_in_the_named_function():
    quotes = QUOTE.findall(_guide())
    assert len(quotes) >= 10
    for path, name, body in quotes:
        node = _definition(path, name)
        assert node is not None, f"{path}::{name}"
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            source = f.read().splitlines()[node.lineno - 1: node.end_lineno]
        lines = {_normalise(s) for s in source}
        for quoted in body.strip().splitlines():
            assert _normalise(quoted) in lines, f"{path}::{name} has no line {quoted.strip()!r}"


def test_linked_figures_exist():
    docs = os.path.dirname(GUIDE)
    links = [l for l in LINK.findall(_guide()) if not l.startswith(("http://", "https://", "#"))]
    assert any(l.endswith(".svg") for l in links)
    for link in links:
        assert os.path.isfile(os.path.join(docs, link.split("#")[0])), f"missing {link}"


def test_figures_parse_as_xml():
    import xml.etree.ElementTree as ET
    docs = os.path.dirname(GUIDE)
    for link in LINK.findall(_guide()):
        if link.endswith((".svg", ".html")):
            ET.parse(os.path.join(docs, link))


# ---------------------------------------------------------------- the parameter-count formulas (section 7)

def _lm_formula(V, T, C, F, L):
    return V * C + T * C + L * (4 * C * C + 2 * C * F + 9 * C + F) + 2 * C


@pytest.mark.parametrize("V,T,C,F,L,H", [(50, 16, 32, 64, 2, 4), (97, 8, 24, 40, 3, 2), (11, 5, 8, 8, 1, 1)])
def test_lm_parameter_formula(V, T, C, F, L, H):
    from transformer_np import TransformerLM
    model = TransformerLM(V, C, H, L, F, T, seed=0)
    assert model.num_parameters() == _lm_formula(V, T, C, F, L)


def test_gpt2_small_is_124m():
    assert _lm_formula(50257, 1024, 768, 3072, 12) == 124_439_808


def test_encoder_decoder_parameter_formula():
    from transformer_np import Transformer
    Vs, Vt, C, F, L, H = 13, 17, 16, 40, 2, 4
    model = Transformer(Vs, Vt, C, H, L, F, max_len=10, seed=0)      # post-LN: no final LayerNorms
    block = 4 * C * C + 2 * C * F + 9 * C + F
    expected = Vs * C + Vt * C + L * block + L * (block + 4 * C * C + 6 * C) + C * Vt + Vt
    assert model.num_parameters() == expected
