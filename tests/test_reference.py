"""gpt.py, the one-file GPT, against the library: the same logits, loss and gradients on the same weights
(float64, GPT-2's configuration), each of its backward functions against finite differences, the same greedy
tokens from real checkpoints, a training run that learns, and its command line's errors. The library's fast
forward/backward functions name their plain twin in gpt.py; those names exist and the pairs agree."""
import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer_np import GPT2, AdamW, CrossEntropyLoss, GELU, LayerNorm, Parameter, TransformerLM
from transformer_np.gradcheck import numeric_entries
from transformer_np.layers import ScaledDotProductAttention, causal_mask, softmax

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import gpt  # noqa: E402  (the repository root is not a package)

FIXTURE = ROOT / "tests" / "fixtures" / "gpt2_tiny" / "hf_layout"
CONFIG = dict(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4, layer_norm_epsilon=1e-5)


def relative(a, b):
    """max |a - b| / max |b|: one number per tensor, scale-free."""
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(scope="module")
def twins():
    """gpt.py's params (float64) and a GPT2 holding the same numbers; weights perturbed so that biases,
    gains and every path are non-trivial."""
    rng = np.random.default_rng(0)
    params = {name: w.astype(np.float64) + 0.05 * rng.standard_normal(w.shape)
              for name, w in gpt.init(CONFIG, seed=0).items()}
    model = GPT2(dict(CONFIG, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0), dtype=np.float64, seed=0)
    model.load_state_dict(params, strict=True)
    return params, model


# ------------------------------------------------------------------------------------------ library parity

def test_logits_loss_and_every_gradient_equal_the_librarys(twins):
    params, model = twins
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, 50, (3, 16)), rng.integers(0, 50, (3, 16))
    logits, loss, kept = gpt.forward(params, CONFIG, ids, targets)
    lib_logits = model.forward(ids)
    loss_fn = CrossEntropyLoss()
    lib_loss = loss_fn.forward(lib_logits, targets)
    assert relative(logits, lib_logits) <= 1e-10
    assert abs(loss - lib_loss) <= 1e-10 * abs(lib_loss)
    model.zero_grad()
    model.backward(loss_fn.backward())
    grads = gpt.backward(params, CONFIG, kept)
    lib = dict(model.named_parameters())
    assert list(grads) == list(lib) == list(params)                   # the same names, in the same order
    worst = max((relative(grads[name], lib[name].grad), name) for name in grads)
    assert worst[0] <= 1e-9, worst


def test_float32_params_compute_in_float32(twins):
    params32 = gpt.init(CONFIG, seed=0)
    ids = np.random.default_rng(2).integers(0, 50, (2, 8))
    logits, loss, kept = gpt.forward(params32, CONFIG, ids, ids)
    grads = gpt.backward(params32, CONFIG, kept)
    assert logits.dtype == np.float32 and isinstance(loss, float)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    gpt.adamw_step(params32, grads, {}, 1e-3, 1)
    assert {w.dtype for w in params32.values()} == {np.dtype(np.float32)}


# ------------------------------------------------------------------------------- finite differences

def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of x (the library's own
    finite-difference helper, over all entries)."""
    return numeric_entries(x, list(np.ndindex(x.shape)), f, eps).reshape(x.shape)


def check(analytic, f, x):
    numeric = numeric_gradient(f, x)
    err = np.linalg.norm(analytic - numeric) / max(np.linalg.norm(numeric), 1e-30)
    assert err < 1e-7, err


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def test_linear_backward(rng):
    x, w, b, dy = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5), \
        rng.standard_normal((2, 3, 5))
    dx, dw, db = gpt.linear_backward(dy, x, w)
    loss = lambda: np.sum(gpt.linear_forward(x, w, b) * dy)  # noqa: E731
    check(dx, loss, x), check(dw, loss, w), check(db, loss, b)


def test_layernorm_backward(rng):
    x, w, b, dy = rng.standard_normal((2, 3, 6)), rng.standard_normal(6), rng.standard_normal(6), \
        rng.standard_normal((2, 3, 6))
    dx, dw, db = gpt.layernorm_backward(dy, gpt.layernorm_forward(x, w, b, 1e-5)[1], w)
    loss = lambda: np.sum(gpt.layernorm_forward(x, w, b, 1e-5)[0] * dy)  # noqa: E731
    check(dx, loss, x), check(dw, loss, w), check(db, loss, b)


def test_attention_backward(rng):
    qkv, dout = rng.standard_normal((2, 5, 12)), rng.standard_normal((2, 5, 4))
    dqkv = gpt.attention_backward(dout, gpt.attention_forward(qkv, 2)[1])
    check(dqkv, lambda: np.sum(gpt.attention_forward(qkv, 2)[0] * dout), qkv)


def test_gelu_backward(rng):
    x, dy = 2 * rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    check(gpt.gelu_backward(dy, x), lambda: np.sum(gpt.gelu_forward(x) * dy), x)


def test_residual_backward(rng):
    x, fx, dy = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    dx, dfx = gpt.residual_backward(dy)
    loss = lambda: np.sum(gpt.residual_forward(x, fx) * dy)  # noqa: E731
    check(dx, loss, x), check(dfx, loss, fx)


def test_embedding_backward_adds_a_repeated_tokens_gradients(rng):
    wte, wpe, dy = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal((2, 3, 3))
    ids = np.array([[1, 1, 4], [0, 1, 1]])                           # token 1 four times
    dwte, dwpe = gpt.embedding_backward(dy, ids, wte.shape, wpe.shape)
    loss = lambda: np.sum(gpt.embedding_forward(wte, wpe, ids) * dy)  # noqa: E731
    check(dwte, loss, wte), check(dwpe, loss, wpe)


def test_crossentropy_backward(rng):
    logits, targets = rng.standard_normal((2, 3, 7)), rng.integers(0, 7, (2, 3))
    _, p = gpt.crossentropy_forward(logits, targets)
    check(gpt.crossentropy_backward(p, targets), lambda: gpt.crossentropy_forward(logits, targets)[0], logits)


def test_whole_model_backward_on_a_few_weights(twins):
    params, _ = twins
    ids = np.random.default_rng(4).integers(0, 50, (2, 5))
    grads = gpt.backward(params, CONFIG, gpt.forward(params, CONFIG, ids, ids[:, ::-1])[2])
    for name in ("wte.weight", "h.0.attn.c_attn.bias", "h.1.ln_2.weight"):
        w = params[name].reshape(-1)[:6]                               # a view: the numeric check edits it
        numeric = numeric_gradient(lambda: gpt.forward(params, CONFIG, ids, ids[:, ::-1])[1], w)
        np.testing.assert_allclose(grads[name].reshape(-1)[:6], numeric, rtol=1e-6, atol=1e-9)


# -------------------------------------------------------------------------------- real checkpoints

def test_greedy_tokens_of_the_tiny_gpt2_fixture_equal_the_librarys():
    params, config = gpt.load(FIXTURE)
    model = GPT2.from_pretrained(FIXTURE)
    prompt = np.array([[3, 100, 7, 42, 200]])
    ours = gpt.generate(params, config, prompt, 20, temperature=0)
    np.testing.assert_array_equal(ours, model.generate(prompt, 20, temperature=0))
    assert gpt.forward(params, config, prompt)[0].dtype == np.float32


def test_greedy_tokens_of_shakespeare_char_equal_the_librarys():
    params, config = gpt.load("shakespeare-char")
    model = TransformerLM.from_pretrained("shakespeare-char")
    tokenizer = gpt.tokenizer_of(config)
    prompt = np.array([tokenizer.encode("ROMEO:\n")])
    ours = gpt.generate(params, config, prompt, 24, temperature=0)
    np.testing.assert_array_equal(ours, model.generate(prompt, 24, temperature=0))


def test_sampling_repeats_with_a_seed_and_top_k_1_is_greedy():
    params, config = gpt.load(FIXTURE)
    prompt = np.array([[5, 6, 7]])
    a = gpt.generate(params, config, prompt, 10, temperature=1.0, seed=3)
    assert np.array_equal(a, gpt.generate(params, config, prompt, 10, temperature=1.0, seed=3))
    assert not np.array_equal(a, gpt.generate(params, config, prompt, 10, temperature=1.0, seed=4))
    np.testing.assert_array_equal(gpt.generate(params, config, prompt, 10, temperature=2.0, top_k=1, seed=5),
                                  gpt.generate(params, config, prompt, 10, temperature=0))


# -------------------------------------------------------------------------------------------- training

def test_a_short_training_run_lowers_the_held_out_loss(tmp_path, monkeypatch):
    text = "".join(f"{w} " for w in np.random.default_rng(0).choice(["the cat", "a dog", "sat on", "mats"], 800))
    path = tmp_path / "words.txt"
    path.write_text(text)
    monkeypatch.setitem(gpt.BABY, "n_positions", 16)
    monkeypatch.setitem(gpt.BABY, "n_embd", 32)
    monkeypatch.setitem(gpt.BABY, "n_layer", 1)
    monkeypatch.setitem(gpt.TRAIN, "eval_every", 20)
    monkeypatch.setitem(gpt.TRAIN, "warmup", 10)
    monkeypatch.setitem(gpt.TRAIN, "eval_batches", 1)
    lines = []
    params, config, tokenizer, summary = gpt.train(path, 60, 0, log=lines.append)
    untrained = math.log(tokenizer.vocab_size)                           # uniform guessing
    assert summary["steps"] == 60 and len(lines) == 3
    assert summary["val_loss"] < untrained - 1.0, summary
    assert {w.dtype for w in params.values()} == {np.dtype(np.float32)}


# ----------------------------------------------------------------------------------- command line

def run_cli(*args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")      # small products: threads only wait on a busy machine
    return subprocess.run([sys.executable, str(ROOT / "gpt.py"), *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("args,named", [
    (["--data", "no/such/file.txt", "--steps", "1"], "no/such/file.txt"),
    (["--model", "no/such/dir", "-p", "hi"], "no/such/dir"),
])
def test_missing_files_are_one_line_errors(args, named):
    r = run_cli(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and named in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["--steps", "0"], ["--temperature", "-1"], ["--top-k", "0"], ["-n", "x"]])
def test_bad_flags_exit_2_without_a_traceback(args):
    r = run_cli(*args)
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_continues_a_prompt_greedily():
    r = run_cli("--model", "shakespeare-char", "-p", "ROMEO:", "-n", "12", "--temperature", "0")
    assert r.returncode == 0, r.stderr
    model = TransformerLM.from_pretrained("shakespeare-char")
    tokenizer = gpt.tokenizer_of(gpt.load("shakespeare-char")[1])
    ids = model.generate(np.array(tokenizer.encode("ROMEO:")), 12, temperature=0)
    assert r.stdout == tokenizer.decode(ids.tolist()) + "\n"


# ------------------------------------------------------------------- the library names its plain twin

TWIN = re.compile(r"gpt\.py ((?:`\w+`(?: / )?)+)")        # gpt.py `name`, or gpt.py `name` / `name`
FAST = ["layers/activations.py", "layers/attention.py", "layers/norm.py", "layers/linear.py",
        "layers/embedding.py", "optim.py", "losses.py"]


def test_every_gpt_py_function_the_library_names_exists():
    defined = {node.name for node in ast.parse((ROOT / "gpt.py").read_text()).body
               if isinstance(node, ast.FunctionDef)}
    named = {(path, name) for path in FAST for names in TWIN.findall((ROOT / "transformer_np" / path).read_text())
             for name in re.findall(r"`(\w+)`", names)}
    assert {path for path, _ in named} == set(FAST)                   # every file points at its twin
    assert {name for _, name in named} - defined == set()


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_fast_and_plain_twins_agree(dtype, tol, rng):
    x, dy = rng.standard_normal((4, 9, 16)).astype(dtype), rng.standard_normal((4, 9, 16)).astype(dtype)
    gelu = GELU("tanh")
    np.testing.assert_allclose(gelu.forward(x), gpt.gelu_forward(x), rtol=tol, atol=tol)
    np.testing.assert_allclose(gelu.backward(dy), gpt.gelu_backward(dy, x), rtol=tol, atol=tol)

    np.testing.assert_allclose(softmax(x.copy()), gpt.crossentropy_forward(x, np.zeros((4, 9), int))[1],
                               rtol=tol, atol=tol)

    norm = LayerNorm(16, dtype=dtype)
    norm.weight.data[:], norm.bias.data[:] = 1 + x[0, 0], x[0, 1]
    y, kept = gpt.layernorm_forward(x, norm.weight.data, norm.bias.data, 1e-5)
    np.testing.assert_allclose(norm.forward(x), y, rtol=tol, atol=tol)
    np.testing.assert_allclose(norm.backward(dy), gpt.layernorm_backward(dy, kept, norm.weight.data)[0],
                               rtol=tol, atol=10 * tol)

    qkv, dout = x[..., :12], dy[..., :4]                                  # 2 heads of 2
    out, kept = gpt.attention_forward(qkv, 2)
    q, k, v = qkv.reshape(4, 9, 3, 2, 2).transpose(2, 0, 3, 1, 4)
    sdpa = ScaledDotProductAttention()
    lib = sdpa.forward(q, k, v, causal_mask(9, 9)).transpose(0, 2, 1, 3).reshape(4, 9, 4)
    np.testing.assert_allclose(lib, out, rtol=tol, atol=tol)
    dq, dk, dv = sdpa.backward(dout.reshape(4, 9, 2, 2).transpose(0, 2, 1, 3))
    lib_d = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(4, 9, 12)
    np.testing.assert_allclose(lib_d, gpt.attention_backward(dout, kept), rtol=tol, atol=10 * tol)


def test_adamw_steps_agree():
    rng = np.random.default_rng(5)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    lib = {name: Parameter(w.copy()) for name, w in params.items()}
    opt = AdamW([{"params": [lib["w"]], "weight_decay": 0.1}, {"params": [lib["b"]], "weight_decay": 0.0}],
                lr=1e-2, betas=(0.9, 0.99))
    moments = {}
    for t in range(1, 6):
        grads = {name: rng.standard_normal(w.shape) for name, w in params.items()}
        for name, p in lib.items():
            p.grad = grads[name].copy()
        opt.step()
        gpt.adamw_step(params, grads, moments, 1e-2, t)
        for name in params:
            np.testing.assert_allclose(lib[name].data, params[name], rtol=1e-13, atol=1e-15)
