"""Trax's predict mode (one token per call, predict_signature (1, 1), the keys and values kept between calls) is
the library's KV-cache decoding: feeding the prompt and then every new token one at a time through
`forward(ids, caches=...)` gives exactly what `generate` gives."""
import numpy as np
import pytest

from transformer_np import TransformerLM


def predict_mode_greedy(model, prompt, n_new):
    """The one-token loop of docs/GUIDE.md section 10 and notebook 3.4."""
    caches = model.new_caches(batch_size=1, length=len(prompt) + n_new)
    for token in prompt:                                            # even the prompt: (1, 1) per call
        logits = model.forward(np.array([[token]]), caches=caches)
    answer = []
    for _ in range(n_new):
        answer.append(int(logits[0, -1].argmax()))
        logits = model.forward(np.array([[answer[-1]]]), caches=caches)
    return answer


def test_sort4_in_predict_mode_answers_trax_s_prompt():
    model = TransformerLM.from_pretrained("sort-4")
    prompt = [0, 3, 15, 14, 9, 0]
    assert predict_mode_greedy(model, prompt, 4) == [3, 9, 14, 15]
    assert model.generate(np.array([prompt]), 4, temperature=0)[0, 6:].tolist() == [3, 9, 14, 15]


@pytest.mark.parametrize("options", [{}, dict(norm="rmsnorm", ffn="swiglu", positional="rope", n_kv_heads=2,
                                              bias=False, tie_head=False)], ids=["gpt2", "llama"])
def test_one_token_loop_equals_generate(options):
    model = TransformerLM(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_len=40, seed=3,
                          **options).eval()
    for seed in range(3):
        prompt = np.random.default_rng(seed).integers(0, 50, size=7).tolist()
        expected = model.generate(np.array([prompt]), 20, temperature=0)[0, 7:].tolist()
        assert predict_mode_greedy(model, prompt, 20) == expected
