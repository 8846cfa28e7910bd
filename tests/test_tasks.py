"""Toy-task generators: exact formats, loss masks, held-out separation, resumable streams."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_np.tasks import SEP, TASK_NAMES, Classify, Fib, ModAdd, make_task


def test_reverse_lm_format_and_loss_mask():
    task = make_task("reverse", length=4, n_symbols=9)
    b = task.make_batch(np.array([[1, 2, 3, 4]]), np.array([[4, 3, 2, 1]]), "lm")
    # the sequence `0 1 2 3 4 0 4 3 2 1`: inputs drop the last token, targets the first
    np.testing.assert_array_equal(b["inputs"], [[0, 1, 2, 3, 4, 0, 4, 3, 2]])
    np.testing.assert_array_equal(b["targets"], [[1, 2, 3, 4, 0, 4, 3, 2, 1]])
    np.testing.assert_array_equal(b["weights"], [[0, 0, 0, 0, 0, 1, 1, 1, 1]])   # loss only on the answer
    np.testing.assert_array_equal(b["prompt"], [[0, 1, 2, 3, 4, 0]])
    assert b["weights"].dtype == np.float32


def test_reverse_seq2seq_format():
    task = make_task("reverse", length=3, n_symbols=9)
    b = task.make_batch(np.array([[5, 6, 7]]), np.array([[7, 6, 5]]), "seq2seq")
    np.testing.assert_array_equal(b["src"], [[5, 6, 7]])
    np.testing.assert_array_equal(b["tgt_in"], [[SEP, 7, 6]])      # start token, then the answer shifted
    np.testing.assert_array_equal(b["targets"], [[7, 6, 5]])
    np.testing.assert_array_equal(b["weights"], [[1, 1, 1]])


@pytest.mark.parametrize("name, check", [
    ("reverse", lambda s, a: np.array_equal(a, s[:, ::-1])),
    ("sort", lambda s, a: np.array_equal(a, np.sort(s, axis=1))),
    ("copy", lambda s, a: np.array_equal(a, s)),
])
def test_answers(name, check):
    task = make_task(name, length=7, n_symbols=12)
    source, answer = task.problems(np.random.default_rng(0), 50)
    assert source.shape == answer.shape == (50, 7)
    assert source.min() >= 1 and source.max() <= 12          # token 0 is reserved for the separator
    assert check(source, answer)


def test_fib_sequence():
    task = Fib(length=5, n_symbols=10)
    source, answer = task.from_pairs(np.array([[1, 1], [9, 3]]))
    # values v are tokens v + 1: 1 1 2 3 5 8 13%10=3 ; 9 3 2 5 7 2 9
    np.testing.assert_array_equal(source, [[2, 2], [10, 4]])
    np.testing.assert_array_equal(answer - 1, [[2, 3, 5, 8, 3], [2, 5, 7, 2, 9]])
    b = task.make_batch(source, answer, "lm")
    np.testing.assert_array_equal(b["inputs"][0], [0, 2, 2, 3, 4, 6, 9])
    np.testing.assert_array_equal(b["weights"][0], [0, 0, 1, 1, 1, 1, 1])


def test_alternate():
    task = make_task("alternate", length=5, n_symbols=6)
    source, answer = task.problems(np.random.default_rng(1), 100)
    assert np.all(source[:, 0] != source[:, 1])
    np.testing.assert_array_equal(answer[:, 0::2], np.repeat(source[:, :1], 3, axis=1))
    np.testing.assert_array_equal(answer[:, 1::2], np.repeat(source[:, 1:], 2, axis=1))
    assert task.make_batch(source, answer, "lm")["inputs"].shape == (100, 3 + 5 - 1)


def test_modadd_format_and_fixed_split():
    task = ModAdd(n_symbols=7)
    b = task.make_batch(*task.from_pairs(np.array([[3, 5]])), "lm")
    np.testing.assert_array_equal(b["prompt"], [[4, 6, SEP]])       # `3 5 =`
    np.testing.assert_array_equal(b["answer"], [[(3 + 5) % 7 + 1]])
    np.testing.assert_array_equal(b["weights"], [[0, 0, 1]])
    assert task.render(b["prompt"][0]) == "3 5 ="
    # the split: disjoint, covers all p^2 pairs, the same for every instance
    train = {tuple(p) for p in task.train_pairs}
    held = {tuple(p) for p in task.heldout_pairs}
    assert not train & held and len(train | held) == 49 and len(held) == round(0.5 * 49)
    assert {tuple(p) for p in ModAdd(n_symbols=7).heldout_pairs} == held
    # training batches never contain a held-out pair; the held-out set is exactly the held-out pairs
    src, _ = task.problems(np.random.default_rng(0), 2000, "train")
    assert not {tuple(p) for p in (src - 1)} & held
    h = task.heldout("lm", 10_000, eval_seed=0)
    assert {tuple(p) for p in h["prompt"][:, :2] - 1} == held


def test_classify_labels():
    task = Classify(length=6, n_symbols=9)
    source, label = task.problems(np.random.default_rng(0), 400)
    assert np.array_equal(label, np.all(np.diff(source, axis=1) >= 0, axis=1))
    assert 0.4 < label.mean() < 0.8                                # both classes well represented
    b = task.make_batch(source, label, "classifier")
    assert b["inputs"].shape == (400, 6) and b["targets"].shape == (400,)
    with pytest.raises(ValueError, match="does not support"):
        task.make_batch(source, label, "lm")


@pytest.mark.parametrize("name", [n for n in TASK_NAMES if n not in ("text", "classify-text", "modadd")])
def test_heldout_separate_seed(name):
    task = make_task(name)
    arch = task.archs[0]
    a, b = task.heldout(arch, 64, eval_seed=1), task.heldout(arch, 64, eval_seed=1)
    c = task.heldout(arch, 64, eval_seed=2)
    train = task.batch(np.random.default_rng([1, 1]), 64, arch)      # as the Trainer seeds its data stream
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])               # deterministic
    assert not np.array_equal(a["inputs" if "inputs" in a else "src"], c["inputs" if "inputs" in c else "src"])
    assert not np.array_equal(a["targets"], train["targets"]) or name == "alternate"


def test_batches_resume_from_rng_state():
    task = make_task("sort")
    rng = np.random.default_rng(5)
    stream = task.batches("lm", 8, rng)
    next(stream)
    saved = rng.bit_generator.state
    expected = [next(stream)["inputs"] for _ in range(3)]
    rng2 = np.random.default_rng(0)
    rng2.bit_generator.state = saved
    stream2 = task.batches("lm", 8, rng2)
    for e in expected:
        np.testing.assert_array_equal(next(stream2)["inputs"], e)


def test_text_task(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello world, héllo again! " * 20, encoding="utf-8")
    task = make_task("text", path=str(path), block_size=8)
    assert task.decode(task.encode("héllo")) == "héllo"
    b = task.batch(np.random.default_rng(0), 4)
    assert b["inputs"].shape == b["targets"].shape == b["weights"].shape == (4, 8)
    np.testing.assert_array_equal(b["inputs"][:, 1:], b["targets"][:, :-1])
    h = task.heldout("lm", 16)
    assert len(h["inputs"]) <= 16 and "answer" not in h
    with pytest.raises(ValueError, match="too short"):
        (tmp_path / "s.txt").write_text("abc")
        make_task("text", path=str(tmp_path / "s.txt"), block_size=8)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["reverse", "sort", "copy", "fib", "alternate"]),
       length=st.integers(1, 9), n_symbols=st.integers(2, 30), seed=st.integers(0, 2**32 - 1))
def test_lm_mask_scores_exactly_the_answer(name, length, n_symbols, seed):
    task = make_task(name, length=length, n_symbols=n_symbols)
    b = task.batch(np.random.default_rng(seed), 5, "lm")
    assert b["weights"].sum(axis=1).tolist() == [length] * 5
    scored = b["targets"][b["weights"] == 1].reshape(5, length)
    np.testing.assert_array_equal(scored, b["answer"])
    np.testing.assert_array_equal(b["inputs"][:, :b["prompt"].shape[1]], b["prompt"])
    assert b["inputs"].max() <= n_symbols and b["targets"].max() <= n_symbols


# -- notation: what train_toy.py and gpt2_infer.py show is what a learner checks by hand ----------------------

def test_sort_reads_as_trax_writes_it():
    task = make_task("sort", length=4, n_symbols=31)
    assert task.render([0, 3, 15, 14, 9, 0]) == "0 3 15 14 9 0"
    np.testing.assert_array_equal(task.prompt_ids("3 15 14 9"), [0, 3, 15, 14, 9, 0])


def test_fib_shows_values_not_ids():
    task = Fib(length=5, n_symbols=10)
    source, answer = task.from_pairs(np.array([[7, 9]]))       # 7 9 16%10=6 15%10=5 11%10=1 6 7
    prompt = task.lm_prompt(source)[0]
    assert task.render(prompt) == "| 7 9" and task.render(answer[0]) == "6 5 1 6 7"
    np.testing.assert_array_equal(task.prompt_ids("7 9"), prompt)
    np.testing.assert_array_equal(task.prompt_ids("| 7 9"), prompt)


def test_alternate_reads_as_trax_s_1_0_1_0():
    task = make_task("alternate", length=6, n_symbols=16)
    source, answer = np.array([[2, 1]]), np.array([[2, 1, 2, 1, 2, 1]])     # tokens: 0 is the separator
    assert task.render(task.lm_prompt(source)[0]) == "| 1 0"
    assert task.render(answer[0]) == "1 0 1 0 1 0"
    np.testing.assert_array_equal(task.prompt_ids("1 0"), [0, 2, 1])


def test_a_prompt_outside_the_notation_is_one_line():
    task = make_task("fib", length=4, n_symbols=10)
    with pytest.raises(ValueError, match=r"'10' is not in the fib task's notation \(values 0..9, separator '\|'\)"):
        task.encode("| 10 3")
    with pytest.raises(ValueError, match="'7 9 1' is not a fib prompt: it reads like '\\| "):
        task.prompt_ids("7 9 1")


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["reverse", "sort", "copy", "fib", "alternate", "modadd"]),
       length=st.integers(1, 6), n_symbols=st.integers(2, 40), seed=st.integers(0, 2**32 - 1))
def test_encode_inverts_render_and_prompts_round_trip(name, length, n_symbols, seed):
    task = make_task(name, length=length, n_symbols=n_symbols)
    b = task.batch(np.random.default_rng(seed), 3, "lm")
    for row in np.concatenate([b["prompt"], b["answer"]], axis=1):
        assert task.encode(task.render(row)) == row.tolist()
    for prompt in b["prompt"]:
        np.testing.assert_array_equal(task.prompt_ids(task.render(prompt)), prompt)
