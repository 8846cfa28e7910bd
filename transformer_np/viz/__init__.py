"""See inside: attention pictures and training curves, as SVG/HTML written by hand (NumPy only).

    from transformer_np import viz
    with viz.capture_attention(model) as records:      # opt-in: attention layers keep copies of weights
        model.forward(ids)
    viz.write_attention_html("attn.html", labels, viz.attention_by_layer(records))
    viz.write_curves_svg("curves.svg", metrics)
"""
from .curves import curves_svg, load_metrics, write_curves_from_jsonl, write_curves_svg
from .attention import (AttentionCapture, attention_html, attention_html_for_lm, attention_html_for_seq2seq,
                        capture_attention, heatmap_svg, named_modules, readable, token_labels,
                        write_attention_html, write_attention_html_sections, write_attention_svg)
from .svg import heat_color, matrix_svg, write_text
