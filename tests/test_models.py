"""The four Transformer shapes: blocks, stacks, LM, encoder-decoder, classifier.

Whole-model gradient checks run in float64 on every parameter (sampled entries). Parameters are first
redrawn with std 0.3 so that every gradient is well above the finite-difference round-off floor
(with GPT-2's 0.02 init some gradients are ~1e-6 of the loss and their *relative* error is noise).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from transformer_np import (Decoder, DecoderBlock, Encoder, EncoderBlock, EncoderClassifier, Transformer,
                            TransformerLM, gradient_check)

TOL = 1e-6


def spread_parameters(model, seed=0, std=0.3):
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape) * std
    return model


def worst(errors):
    name = max(errors, key=errors.get)
    return errors[name], name


def tiny_lm(**kw):
    args = dict(vocab_size=11, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=12, seed=0)
    args.update(kw)
    return TransformerLM(**args)


# ------------------------------------------------------------------------------------------- blocks

@settings(max_examples=10, deadline=None)
@given(pre_ln=st.booleans(), B=st.integers(1, 2), T=st.integers(1, 4), heads=st.sampled_from([1, 2, 4]),
       seed=st.integers(0, 1000))
def test_encoder_block_gradients(pre_ln, B, T, heads, seed):
    rng = np.random.default_rng(seed)
    block = spread_parameters(EncoderBlock(8, heads, 12, pre_ln=pre_ln, dtype=np.float64, rng=seed), seed)
    padding = rng.random((B, T)) < 0.3
    padding[:, 0] = False                                   # at least one real key per row
    errors = gradient_check(block, [rng.standard_normal((B, T, 8))], {"key_padding_mask": padding},
                            eps=1e-5, max_entries=15)
    assert worst(errors)[0] < TOL, worst(errors)


@settings(max_examples=10, deadline=None)
@given(pre_ln=st.booleans(), cross=st.booleans(), T=st.integers(1, 4), S=st.integers(1, 4),
       seed=st.integers(0, 1000))
def test_decoder_block_gradients(pre_ln, cross, T, S, seed):
    rng = np.random.default_rng(seed)
    block = spread_parameters(DecoderBlock(8, 2, 12, pre_ln=pre_ln, cross_attention=cross, dtype=np.float64,
                                           rng=seed), seed)
    inputs = [rng.standard_normal((2, T, 8))] + ([rng.standard_normal((2, S, 8))] if cross else [])
    errors = gradient_check(block, inputs, eps=1e-5, max_entries=15)
    assert set(errors) >= ({"input0", "input1"} if cross else {"input0"})
    assert worst(errors)[0] < TOL, worst(errors)


def test_stacks_gradients():
    rng = np.random.default_rng(3)
    enc = spread_parameters(Encoder(2, 8, 2, 12, dtype=np.float64, rng=0))
    assert worst(gradient_check(enc, [rng.standard_normal((2, 3, 8))], eps=1e-5))[0] < TOL
    dec = spread_parameters(Decoder(2, 8, 2, 12, cross_attention=True, pre_ln=False, dtype=np.float64, rng=0))
    errors = gradient_check(dec, [rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 4, 8))], eps=1e-5)
    assert worst(errors)[0] < TOL, worst(errors)


def test_post_ln_block_output_is_normalised_and_pre_ln_is_not():
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32) * 3 + 1
    post = EncoderBlock(8, 2, 16, pre_ln=False, rng=0).forward(x)
    np.testing.assert_allclose(post.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(post.std(-1), 1, atol=1e-3)
    pre = EncoderBlock(8, 2, 16, pre_ln=True, rng=0).forward(x)
    assert abs(float(pre.std(-1).mean()) - 1.0) > 0.5       # the residual stream keeps x's scale


# ------------------------------------------------------------------------------------- whole models

@pytest.mark.parametrize("pre_ln", [True, False])
def test_transformer_lm_gradients(pre_ln):
    model = spread_parameters(tiny_lm(dtype=np.float64, pre_ln=pre_ln))
    ids = np.random.default_rng(1).integers(0, 11, (2, 6))
    errors = gradient_check(model, [ids], eps=1e-5, max_entries=12)
    assert len(errors) == len(model.parameters())           # every parameter checked (ids have no gradient)
    assert worst(errors)[0] < TOL, worst(errors)


def test_transformer_lm_sinusoidal_gradients():
    model = spread_parameters(tiny_lm(dtype=np.float64, positional="sinusoidal"))
    ids = np.random.default_rng(1).integers(0, 11, (2, 6))
    assert worst(gradient_check(model, [ids], eps=1e-5, max_entries=12))[0] < TOL


@pytest.mark.parametrize("pre_ln", [True, False])
def test_encoder_decoder_gradients_with_source_padding(pre_ln):
    model = spread_parameters(Transformer(src_vocab_size=9, tgt_vocab_size=7, d_model=8, n_heads=2, n_layers=2,
                                          d_ff=16, max_len=10, dtype=np.float64, seed=0, pre_ln=pre_ln,
                                          activation="gelu"))
    rng = np.random.default_rng(2)
    padding = np.zeros((2, 5), bool)
    padding[0, 3:] = True
    errors = gradient_check(model, [rng.integers(0, 9, (2, 5)), rng.integers(0, 7, (2, 4))],
                            {"src_padding_mask": padding}, eps=1e-4, max_entries=10)
    assert worst(errors)[0] < TOL, worst(errors)


def test_classifier_gradients_with_padding():
    model = spread_parameters(EncoderClassifier(vocab_size=9, n_classes=3, d_model=8, n_heads=2, n_layers=2,
                                                d_ff=16, max_len=10, dtype=np.float64, seed=0))
    padding = np.zeros((2, 5), bool)
    padding[1, 2:] = True
    ids = np.random.default_rng(4).integers(0, 9, (2, 5))
    errors = gradient_check(model, [ids], {"key_padding_mask": padding}, eps=1e-5, max_entries=10)
    assert worst(errors)[0] < TOL, worst(errors)


def test_tied_head_gets_gradient_from_both_uses():
    """wte is the input embedding and the output head: its gradient is the sum of both contributions."""
    model = tiny_lm(dtype=np.float64)
    ids = np.array([[1, 2, 3]])
    dlogits = np.random.default_rng(0).standard_normal((1, 3, 11))
    model.forward(ids)
    model.zero_grad()
    model.backward(dlogits)
    total = model.wte.weight.grad.copy()
    head_only = dlogits.reshape(-1, 11).T @ model.lm_head.x.reshape(-1, 8)
    assert not np.allclose(total, head_only)               # the embedding lookup added its part
    assert np.allclose(np.delete(total, [1, 2, 3], axis=0), np.delete(head_only, [1, 2, 3], axis=0))


def test_lm_parameter_names_follow_gpt2():
    names = [n for n, _ in tiny_lm().named_parameters()]
    assert names[:3] == ["wte.weight", "wpe.weight", "h.0.ln_1.weight"]
    assert "h.1.attn.c_attn.weight" in names and "h.1.mlp.c_proj.bias" in names
    assert names[-2:] == ["ln_f.weight", "ln_f.bias"]
    assert len(names) == len(set(names)) == 2 + 12 * 2 + 2      # the tied head adds no parameter


def test_lm_is_causal():
    model = tiny_lm()
    ids = np.array([[1, 2, 3, 4, 5]])
    changed = ids.copy()
    changed[0, 3:] = [9, 9]
    a, b = model.forward(ids), model.forward(changed)
    np.testing.assert_array_equal(a[:, :3], b[:, :3])
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_float32_models_give_float32_outputs():
    ids = np.array([[1, 2, 3]])
    assert tiny_lm().forward(ids).dtype == np.float32
    s2s = Transformer(src_vocab_size=9, tgt_vocab_size=7, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=10)
    assert s2s.forward(ids, ids).dtype == np.float32
    cls = EncoderClassifier(vocab_size=9, n_classes=3, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=10)
    assert cls.forward(ids).dtype == np.float32
    assert all(p.dtype == np.float32 for p in tiny_lm().parameters())


def test_same_seed_same_model():
    a, b, c = tiny_lm(seed=5), tiny_lm(seed=5), tiny_lm(seed=6)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.wte.weight.data, c.wte.weight.data)


def test_bad_ids_are_reported():
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        tiny_lm().forward(np.array([[1, 11]]))
    with pytest.raises(ValueError, match="context window"):
        tiny_lm().forward(np.zeros((1, 13), dtype=int))


# -------------------------------------------------------------------------------------- generation

@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 5), B=st.integers(1, 3))
def test_kv_cache_decoding_equals_full_recomputation(seed, T, B):
    model = tiny_lm(seed=seed, n_layers=2)
    ids = np.random.default_rng(seed).integers(0, 11, (B, T))
    generated = model.generate(ids, 6, temperature=0)
    full = ids
    for _ in range(6):                                      # no cache: rerun the whole prefix each step
        full = np.concatenate([full, model.forward(full)[:, -1].argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(generated, full)


def test_cached_logits_match_uncached_logits():
    model = tiny_lm(seed=1)
    ids = np.array([[3, 1, 4, 1, 5, 9]])
    caches = model.new_caches(1, 6)
    model.forward(ids[:, :3], caches)
    step_logits = [model.forward(ids[:, t:t + 1], caches)[:, -1] for t in range(3, 6)]
    np.testing.assert_allclose(np.stack(step_logits, 1), model.forward(ids)[:, 3:], atol=1e-5)


def test_generate_shapes_seed_and_eos():
    model = tiny_lm(seed=2, eos_token_id=0)
    ids = np.array([[1, 2], [3, 4]])
    a = model.generate(ids, 5, temperature=1.0, seed=7)
    assert a.shape == (2, 7) and np.array_equal(a[:, :2], ids)
    np.testing.assert_array_equal(a, model.generate(ids, 5, temperature=1.0, seed=7))
    # Force EOS: make token 0 overwhelmingly likely, then generation stops after one step.
    model.wte.weight.data[0] *= 0
    model.wte.weight.data[0, :] = 50.0
    model.ln_f.bias.data[:] = 1.0
    stopped = model.generate(ids, 5, temperature=0, stop_at_eos=True)
    assert stopped.shape == (2, 3) and (stopped[:, -1] == 0).all()
    with pytest.raises(ValueError, match="context window"):
        model.generate(ids, 11)


def test_seq2seq_generation_matches_teacher_forced_argmax():
    model = Transformer(src_vocab_size=9, tgt_vocab_size=7, d_model=8, n_heads=2, n_layers=2, d_ff=16,
                        max_len=10, seed=0, pre_ln=True)
    src = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    out = model.generate(src, 4, start_id=0, temperature=0)
    assert out.shape == (2, 5) and (out[:, 0] == 0).all()
    logits = model.forward(src, out[:, :-1])
    np.testing.assert_array_equal(logits.argmax(-1), out[:, 1:])
