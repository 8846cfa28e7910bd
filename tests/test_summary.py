"""print(model) / model.summary(): the layer tree, parameter shapes, counts per module and in total."""
import re

import numpy as np

from transformer_np import GPT2, Linear, TransformerLM
from transformer_np.init import skip_init
from transformer_np.models.gpt2 import count_parameters


def counts(text):
    """label -> the number in its row's last column (rows whose last column is a number)."""
    table = {}
    for line in text.splitlines()[2:]:
        match = re.match(r"^(\s*)(\S.*?)\s{2,}(?:\(.*?\)\s+)?([\d,]+)$", line)
        if match:
            table[match.group(1) + match.group(2)] = int(match.group(3).replace(",", ""))
    return table


def gpt2_124m():
    with skip_init():                          # shapes only: no random draws for 124M weights
        return GPT2("gpt2")


def test_gpt2_124m_total_and_per_module_counts():
    text = repr(gpt2_124m())
    assert text.splitlines()[0] == "GPT2: 124,439,808 parameters (float32, 497.8 MB)"
    table = counts(text)
    assert table["total"] == 124_439_808 == count_parameters("gpt2")
    assert table["wte: Embedding"] == 50257 * 768
    assert table["wpe: LearnedPositionalEmbedding"] == 1024 * 768
    block = 2 * 768 + (768 * 2304 + 2304) + (768 * 768 + 768) + 2 * 768 + (768 * 3072 + 3072) + (3072 * 768 + 768)
    assert table["h.0: DecoderBlock"] == block == 7_087_872
    assert table["h.1 .. h.11: 11 x DecoderBlock, each as h.0"] == 11 * block
    assert table["ln_f: LayerNorm"] == 2 * 768


def test_parameter_rows_show_shapes_and_the_tied_head_is_counted_once():
    lines = repr(gpt2_124m()).splitlines()
    assert re.match(r"^    c_attn: Linear\s+1,771,776$", next(l for l in lines if "c_attn" in l))
    c_attn = lines.index(next(l for l in lines if "c_attn" in l))
    assert re.match(r"^      weight\s+\(768, 2304\)\s+1,769,472$", lines[c_attn + 1])
    assert re.match(r"^      bias\s+\(2304,\)\s+2,304$", lines[c_attn + 2])
    head = lines.index(next(l for l in lines if l.startswith("lm_head")))
    assert re.match(r"^lm_head: TiedOutputHead\s+0$", lines[head])
    assert re.match(r"^  weight\s+\(50257, 768\)\s+tied to wte\.weight$", lines[head + 1])


def test_module_counts_add_up_to_the_total_at_every_level():
    model = TransformerLM(vocab_size=11, d_model=8, n_heads=2, n_layers=3, d_ff=16, max_len=5, seed=0)
    table = counts(model.summary_text(depth=1))
    top = {label: n for label, n in table.items() if label != "total"}
    assert sum(top.values()) == table["total"] == model.num_parameters()
    assert all(not label.startswith(" ") for label in top)          # depth=1: top level only


def test_summary_prints_what_repr_returns(capsys):
    layer = Linear(3, 4, rng=np.random.default_rng(0))
    layer.summary()
    assert capsys.readouterr().out == repr(layer) + "\n"
    assert repr(layer).splitlines() == [
        "Linear: 16 parameters (float32, 0.0 MB)",
        "module / parameter  shape   parameters",
        "weight              (3, 4)          12",
        "bias                (4,)             4",
        "total                               16",
    ]


def test_different_blocks_are_not_collapsed():
    model = TransformerLM(vocab_size=11, d_model=8, n_heads=2, n_layers=2, d_ff=16, max_len=5, seed=0)
    model.h[1].mlp.c_fc.weight.data = np.zeros((8, 32), np.float32)   # h.1 now differs from h.0 in shape
    text = repr(model)
    assert "h.1: DecoderBlock" in text and " x DecoderBlock" not in text
