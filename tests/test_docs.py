"""The README and docs/*.md are tested like code: every command in a ```bash block names a script that
exists and flags its argparse knows; every ```python block compiles and its `transformer_np` imports
resolve; every relative link (and #anchor) and every repository path or `transformer_np.*` name in a code
span resolves; the README keeps its shape (<= 250 lines, the quick start in the first 40); a few cheap
commands run and print what the docs show."""
import ast
import doctest
import functools
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "notebooks" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
# Files that other branches of the same round add: the docs may name them before they land. A reference to
# one of them is checked once it exists, and skipped (saying so) until then.
PENDING = {"gpt.py", "docs/DATA.md", "transformer_np/data.py", "transformer_np/io/atomic.py"}
# Other projects' files that the docs name (nanoGPT's model.py and prepare.py, OpenAI's encoder.py), not ours.
EXTERNAL = {"model.py", "encoder.py", "prepare.py"}

BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SPAN = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"^(?:transformer_np|tests|tools|bench|docs|examples|notebooks|\.ci)/[\w./*-]*$|^[\w-]+\.py$")
DOTTED = re.compile(r"^transformer_np(?:\.\w+)+$")


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def _text(path):
    return path.read_text(encoding="utf-8")


def _blocks(kind):
    return [(_rel(doc), body) for doc in DOCS for lang, body in BLOCK.findall(_text(doc)) if lang == kind]


def _prose(path):
    """The file without its fenced code blocks."""
    return BLOCK.sub("", _text(path))


def _exists_or_pending(rel):
    if (ROOT / rel).exists():
        return True
    if rel in PENDING:
        pytest.skip(f"{rel} lands with another branch")
    return False


# ------------------------------------------------------------------------------------ the README's shape

def test_readme_is_short_with_the_quick_start_first():
    lines = _text(ROOT / "README.md").splitlines()
    assert len(lines) <= 250
    quick = next(i for i, line in enumerate(lines) if line.startswith("## Quick start"))
    first_40 = "\n".join(lines[:40])
    assert quick < 40 and "python -m pytest -q" in first_40 and "pip install -r requirements.txt" in first_40
    assert "machine A" not in "\n".join(lines) and "machine B" not in "\n".join(lines)


def test_ci_runs_the_readme_test_command():
    ci = _text(ROOT / ".ci" / "run")
    assert "python -m pytest -q" in _text(ROOT / "README.md") and "-m pytest -q" in ci


def test_performance_names_every_benchmark():
    perf = _text(ROOT / "docs" / "PERFORMANCE.md")
    for bench in sorted((ROOT / "bench").glob("*.py")):
        assert f"bench/{bench.name}" in perf, f"docs/PERFORMANCE.md does not name bench/{bench.name}"
    assert "## Training against nanoGPT" in perf


# --------------------------------------------------------------------------------------------- commands

def _commands():
    """(doc, command tokens) for every command line in a ```bash block ('\\' continuations joined,
    comments dropped, pipelines and && split, redirections cut off)."""
    out = []
    for doc, body in _blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            command = []
            for token in tokens + ["&&"]:
                if token in ("&&", "||", "|", ";"):
                    if command:
                        out.append((doc, command))
                    command = []
                elif token.startswith((">", "<", "2>")) or (command and command[-1] in (">", "<", "2>")):
                    command.append(">")               # the rest of this command is a redirection target
                else:
                    command.append(token)
            out = [(d, c[:c.index(">")] if ">" in c else c) for d, c in out]
    return out


def _python_call(tokens):
    """(script or -m module, the arguments) of a `... python ...` command, or None."""
    for i, token in enumerate(tokens):
        if os.path.basename(token) in ("python", "python3"):
            rest = tokens[i + 1:]
            if rest[:1] == ["-m"]:
                return ("-m", rest[1]), rest[2:]
            if rest and rest[0].endswith(".py"):
                return ("script", rest[0]), rest[1:]
            return None
    return None


@functools.lru_cache(maxsize=None)
def _help(kind, target, sub=None):
    """The --help text of a script, module or subcommand ('' if it has no working --help)."""
    argv = [sys.executable] + (["-m", target] if kind == "-m" else [target]) + ([sub] if sub else []) + ["--help"]
    try:
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return ""
    return result.stdout if result.returncode == 0 else ""


def _known_flags(kind, target, args):
    text = _help(kind, target)
    positional = next((a for a in args if not a.startswith("-")), None)
    if positional and re.search(r"\{[\w,-]*\b" + re.escape(positional) + r"\b[\w,-]*\}", text):
        text = _help(kind, target, positional)
    if not text:                                   # no argparse: a flag must at least be in the source
        source = _text(ROOT / target) if kind == "script" else ""
        return None, source
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text)), text


PYTHON_COMMANDS = [(doc, call, args) for doc, tokens in _commands() for call, args in
                   [_python_call(tokens) or (None, None)] if call]


def test_docs_have_commands():
    assert len(PYTHON_COMMANDS) >= 60


@pytest.mark.parametrize("doc,call,args", PYTHON_COMMANDS,
                         ids=[f"{d}:{c[1]} {' '.join(a)[:40]}" for d, c, a in PYTHON_COMMANDS])
def test_command_script_and_flags_exist(doc, call, args):
    kind, target = call
    if kind == "script":
        assert _exists_or_pending(target), f"{doc}: {target} does not exist"
    else:
        assert importlib.util.find_spec(target) is not None, f"{doc}: no module {target}"
    flags = {a.split("=")[0] for a in args if re.match(r"--?[A-Za-z]", a)}
    known, text = _known_flags(kind, target, args)
    for flag in sorted(flags):
        if known is None:
            assert flag in text, f"{doc}: {target} has no flag {flag}"
        else:
            assert flag in known, f"{doc}: {target} has no flag {flag} (see its --help)"


def test_other_commands_name_real_files():
    pyproject = _text(ROOT / "pyproject.toml")
    for doc, tokens in _commands():
        if tokens[:1] == ["bash"]:
            assert (ROOT / tokens[1]).is_file(), f"{doc}: {tokens[1]}"
        if "pip" in [os.path.basename(t) for t in tokens[:1]] or tokens[1:2] == ["install"]:
            for i, token in enumerate(tokens):
                if token == "-r":
                    assert (ROOT / tokens[i + 1]).is_file(), f"{doc}: {tokens[i + 1]}"
                extra = re.fullmatch(r"\.\[(\w+)\]", token)
                if extra:
                    assert re.search(rf"^{extra.group(1)} = \[", pyproject, re.M), f"{doc}: no extra {token}"


# --------------------------------------------------------------------------------------- python snippets

PYTHON_BLOCKS = _blocks("python")


@pytest.mark.parametrize("doc,body", PYTHON_BLOCKS, ids=[f"{d}:{i}" for i, (d, _) in enumerate(PYTHON_BLOCKS)])
def test_python_snippet_compiles_and_its_imports_resolve(doc, body):
    if body.lstrip().startswith(">>>"):              # an interactive session: its input lines are the code
        body = "".join(example.source for example in doctest.DocTestParser().get_examples(body))
    tree = ast.parse(body, filename=doc)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("transformer_np"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), \
                    f"{doc}: from {node.module} import {alias.name}"


# -------------------------------------------------------------------------------- links and references

def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path):
    return {_slug(h) for h in re.findall(r"^#+ (.*)$", _prose(path), re.M)}


LINKS = [(_rel(doc), link) for doc in DOCS for link in LINK.findall(_prose(doc))
         if not link.startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("doc,link", LINKS, ids=[f"{d}->{l}" for d, l in LINKS])
def test_relative_link_resolves(doc, link):
    target, _, anchor = link.partition("#")
    path = (ROOT / doc).parent / target if target else ROOT / doc
    rel = _rel(path.resolve()) if path.resolve().is_relative_to(ROOT) else str(path)
    assert _exists_or_pending(rel), f"{doc}: {link} does not exist"
    if anchor and path.suffix == ".md":
        assert anchor in _anchors(path), f"{doc}: {link}: no heading with that anchor in {rel}"


def _spans():
    spans = set()
    for doc in DOCS:
        for span in SPAN.findall(_prose(doc)):
            spans.add((_rel(doc), span))
    for doc, body in _blocks("bash") + _blocks("python"):
        spans.update((doc, word) for word in re.findall(r"[\w./*-]+", body))
    return sorted(spans)


def test_repository_paths_in_the_docs_exist():
    checked, missing = 0, []
    for doc, span in _spans():
        if not REPO_PATH.match(span) or "NN_" in span or span in PENDING | EXTERNAL:
            continue
        if "/" not in span:                          # a bare file name: somewhere in the repository
            found = (ROOT / span).exists() or any(ROOT.glob(f"*/**/{span}"))
        else:
            found = any(ROOT.glob(span)) if "*" in span else (ROOT / span).exists()
        if not found:
            missing.append(f"{doc}: `{span}`")
        checked += 1
    assert not missing, "paths that do not exist: " + ", ".join(missing)
    assert checked >= 60


def test_transformer_np_names_in_the_docs_resolve():
    checked = 0
    for doc, span in _spans():
        if not DOTTED.match(span):
            continue
        parts = span.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for name in parts[cut:]:
                assert hasattr(obj, name), f"{doc}: `{span}`: no {name}"
                obj = getattr(obj, name)
            break
        checked += 1
    assert checked >= 5


# ------------------------------------------------------------------------------ cheap commands, run

RUNS = [
    ("README.md", 'python -m transformer_np.tokenizer encode "Hello world"', "15496 995"),
    ("docs/TOKENIZER.md", "python -m transformer_np.tokenizer decode 15496 995", "Hello world"),
    ("README.md", 'python gpt2_infer.py --model shakespeare-char -p "ROMEO:" -n 120 --seed 1',
     "ROMEO:\nNow Marcius that I would have my head.\n\nPARIS:\nSweet she is means there I love thee stand:\n"
     "Sorrow their disgraceity, co"),
    ("docs/TRAINING.md", "python train_toy.py --help", "per-task defaults"),
]


@pytest.mark.parametrize("doc,command,expected", RUNS, ids=[c for _, c, _ in RUNS])
def test_cheap_command_prints_what_the_docs_show(doc, command, expected, tmp_path):
    assert command in _text(ROOT / doc), f"{doc} no longer shows {command!r}: update RUNS"
    assert expected in _text(ROOT / doc) or command.endswith("--help")
    argv = shlex.split(command)
    argv[0] = sys.executable
    argv = [str(ROOT / a) if a.endswith(".py") else a for a in argv]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_readme_gradient_check_prints_its_numbers():
    body = next(b for d, b in PYTHON_BLOCKS if d == "README.md" and "gradient_check(" in b)
    shown = re.search(r"# (\{.*\})", body).group(1)
    namespace = {}
    code = body.replace("gradient_check(layer", "result = gradient_check(layer")
    exec(compile(code, "README.md", "exec"), namespace)
    got = {k: f"{v:.1e}" for k, v in namespace["result"].items()}
    assert str(got).replace("'", "").replace('"', "") == shown.replace("'", ""), (got, shown)
