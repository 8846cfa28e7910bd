"""SGD, Adam, AdamW against hand-computed updates; clip_grad_norm; warmup_cosine; decay_groups."""
import math

import numpy as np
import pytest

from transformer_np.core import Parameter
from transformer_np.layers import LayerNorm, Linear, Sequential
from transformer_np.optim import SGD, Adam, AdamW, clip_grad_norm, decay_groups, warmup_cosine

W0 = [1.0, -2.0]
GRADS = [[0.5, 1.0], [-1.0, 0.5], [0.25, 0.25]]


def run(opt_class, grads=GRADS, dtype=np.float64, **kwargs):
    """Apply one optimiser step per gradient in `grads` to a parameter starting at W0."""
    p = Parameter(np.array(W0, dtype=dtype))
    opt = opt_class([p], **kwargs)
    for g in grads:
        p.grad = np.array(g, dtype=dtype)
        opt.step()
    return p.data


def adam_reference(grads, lr, betas, eps, wd, decoupled):
    w, m, v = np.array(W0), np.zeros(2), np.zeros(2)
    for t, g in enumerate(grads, start=1):
        g = np.array(g)
        if wd and not decoupled:
            g = g + wd * w                                # L2 penalty goes through the moments
        if wd and decoupled:
            w = w - lr * wd * w                           # decoupled: shrink the weights directly
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


# ------------------------------------------------------------------------------------------------ SGD

def test_sgd_subtracts_lr_times_gradient():
    # w3 = w0 - 0.1 * (g1 + g2 + g3) = [1, -2] - 0.1 * [-0.25, 1.75]
    np.testing.assert_allclose(run(SGD, lr=0.1), [1.025, -2.175], rtol=1e-15)


def test_sgd_with_momentum_accumulates_a_velocity():
    # v1 = g1 = [.5, 1]             w1 = [.95, -2.1]
    # v2 = .9 v1 + g2 = [-.55, 1.4]  w2 = [1.005, -2.24]
    # v3 = .9 v2 + g3 = [-.245, 1.51] w3 = [1.0295, -2.391]
    np.testing.assert_allclose(run(SGD, lr=0.1, momentum=0.9), [1.0295, -2.391], rtol=1e-14)


def test_sgd_weight_decay_adds_wd_times_w_to_the_gradient():
    # g = [.5, 1] + .5 * [1, -2] = [1, 0];  w1 = [1, -2] - .1 * [1, 0]
    np.testing.assert_allclose(run(SGD, grads=GRADS[:1], lr=0.1, weight_decay=0.5), [0.9, -2.0], rtol=1e-15)


# ----------------------------------------------------------------------------------------------- Adam

def test_adam_first_step_moves_each_weight_by_lr_against_the_gradient_sign():
    # m_hat = g, v_hat = g^2, so the step is lr * g / |g| (up to eps)
    np.testing.assert_allclose(run(Adam, grads=GRADS[:1], lr=0.1), [0.9, -2.1], rtol=1e-7)


def test_adam_three_steps_match_the_reference():
    expected = adam_reference(GRADS, 0.1, (0.9, 0.999), 1e-8, 0.0, False)
    np.testing.assert_allclose(run(Adam, lr=0.1), expected, rtol=1e-13)


def test_adam_weight_decay_is_an_l2_penalty_through_the_moments():
    expected = adam_reference(GRADS, 0.1, (0.8, 0.99), 1e-8, 0.3, decoupled=False)
    np.testing.assert_allclose(run(Adam, lr=0.1, betas=(0.8, 0.99), weight_decay=0.3), expected, rtol=1e-13)


def test_adamw_decays_the_weights_directly():
    expected = adam_reference(GRADS, 0.1, (0.8, 0.99), 1e-8, 0.3, decoupled=True)
    np.testing.assert_allclose(run(AdamW, lr=0.1, betas=(0.8, 0.99), weight_decay=0.3), expected, rtol=1e-13)


def test_adamw_differs_from_adam_with_l2_penalty():
    adamw = run(AdamW, lr=0.1, weight_decay=0.3)
    adam_l2 = run(Adam, lr=0.1, weight_decay=0.3)
    assert np.abs(adamw - adam_l2).max() > 1e-3


def test_adamw_with_zero_gradient_shrinks_weights_by_one_minus_lr_wd():
    np.testing.assert_allclose(run(AdamW, grads=[[0.0, 0.0]], lr=0.1, weight_decay=0.5),
                               np.array(W0) * (1 - 0.05), rtol=1e-15)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: Adam(ps, lr=0.1, weight_decay=0.1), lambda ps: AdamW(ps, lr=0.1)],
                         ids=["sgd", "sgd-momentum-wd", "adam-l2", "adamw"])
def test_optimizers_keep_float32_parameters_float32(make):
    model = Sequential(Linear(3, 4, rng=0), LayerNorm(4))
    opt = make(model.parameters())
    rng = np.random.default_rng(0)
    for _ in range(2):
        for p in model.parameters():
            p.grad = rng.standard_normal(p.shape).astype(np.float32)
        opt.step()
    assert {p.data.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    assert all(a.dtype == np.float32 for s in opt.state.values() for a in s.values())


def test_decay_groups_decays_matrices_but_not_biases_or_layernorm_gains():
    model = Sequential(Linear(3, 4, rng=0), LayerNorm(4))
    decay, no_decay = decay_groups(model.named_parameters(), 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [(3, 4)]
    assert [p.shape for p in no_decay["params"]] == [(4,), (4,), (4,)]


def test_adamw_with_decay_groups_leaves_undecayed_parameters_alone():
    model = Sequential(Linear(3, 4, rng=0), LayerNorm(4))
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    opt = AdamW(decay_groups(model.named_parameters(), 0.5), lr=0.1)
    opt.step()                                             # all gradients are zero
    params = dict(model.named_parameters())
    np.testing.assert_allclose(params["layers.0.weight"].data, before["layers.0.weight"] * 0.95, rtol=1e-6)
    for name in ("layers.0.bias", "layers.1.weight", "layers.1.bias"):
        np.testing.assert_array_equal(params[name].data, before[name])


def test_optimizer_zero_grad_clears_gradients():
    p = Parameter(np.ones(3))
    p.grad = np.ones(3)
    SGD([p]).zero_grad()
    np.testing.assert_array_equal(p.grad, np.zeros(3))


def test_optimizer_state_dict_round_trip_continues_identically():
    def fresh():
        return Parameter(np.array(W0))

    p1 = fresh()
    opt1 = Adam([p1], lr=0.1)
    for g in GRADS[:2]:
        p1.grad = np.array(g)
        opt1.step()
    p2 = Parameter(p1.data.copy())
    opt2 = Adam([p2], lr=0.5)
    opt2.load_state_dict(opt1.state_dict())
    for p, opt in ((p1, opt1), (p2, opt2)):
        p.grad = np.array(GRADS[2])
        opt.step()
    np.testing.assert_array_equal(p1.data, p2.data)


# -------------------------------------------------------------------------------------------- clipping

def test_clip_grad_norm_returns_the_total_norm_and_scales_to_max_norm():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 4.0]), np.array([12.0])            # total norm 13
    assert clip_grad_norm([a, b], 6.5) == pytest.approx(13.0, rel=1e-15)
    np.testing.assert_allclose(a.grad, [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [6.0], rtol=1e-6)
    assert math.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()) == pytest.approx(6.5, rel=1e-6)


def test_clip_grad_norm_leaves_small_gradients_unchanged():
    a = Parameter(np.zeros(2))
    a.grad = np.array([3.0, 4.0])
    assert clip_grad_norm([a], 10.0) == 5.0
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])


def test_clip_grad_norm_keeps_float32_gradients_float32():
    a = Parameter(np.zeros(2, np.float32))
    a.grad = np.array([30.0, 40.0], np.float32)
    clip_grad_norm([a], 1.0)
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, [0.6, 0.8], rtol=1e-6)


# ------------------------------------------------------------------------------------------- schedule

MAX_LR, MIN_LR, WARMUP, TOTAL = 1.0, 0.1, 10, 110


def lr(step):
    return warmup_cosine(step, MAX_LR, WARMUP, TOTAL, MIN_LR)


def test_warmup_rises_linearly_from_near_zero_to_max_lr():
    np.testing.assert_allclose([lr(s) for s in range(WARMUP)], np.arange(1, WARMUP + 1) / WARMUP, rtol=1e-15)
    assert lr(WARMUP - 1) == MAX_LR


def test_cosine_starts_at_max_lr_after_warmup_and_reaches_min_lr_at_the_end():
    assert lr(WARMUP) == MAX_LR
    assert lr(TOTAL) == MIN_LR
    assert lr(TOTAL + 50) == MIN_LR


def test_cosine_midpoint_is_halfway_between_max_and_min():
    assert lr((WARMUP + TOTAL) // 2) == pytest.approx((MAX_LR + MIN_LR) / 2, rel=1e-14)


def test_learning_rate_decays_monotonically_after_warmup():
    values = np.array([lr(s) for s in range(WARMUP, TOTAL + 1)])
    assert (np.diff(values) < 0).all()
