"""See inside: attention pictures and training curves, as SVG/HTML written by hand (NumPy only).

    from transformer_np import viz
    with viz.capture_attention(model) as cap:           # opt-in: attention layers keep copies of weights
        model.forward(ids)
    viz.write_attention_html("attn.html", labels, cap.by_layer())   # labels: viz.token_labels(tok, ids)
    viz.write_curves_svg("curves.svg", metrics)                     # list of dicts or a metrics.jsonl path

Modules: svg (escaping, colours, ticks, shapes), curves (training curves), attention (capture, heatmaps,
neuron view, page), diagram (architecture diagrams), dataflow (combinators as data flow), notebook (show()
for notebooks).
"""
from .curves import curves_hook, curves_svg, load_metrics, write_curves_from_jsonl, write_curves_svg
from .attention import (AttentionCapture, attention_html, attention_html_for_lm, attention_html_for_model,
                        attention_html_for_trainer,
                        attention_html_for_seq2seq,
                        capture_attention, heads_grid_svg, heatmap_svg, joined_labels, named_modules,
                        neuron_view_svg,
                        query_key_vectors, readable, token_labels,
                        write_attention_html, write_attention_html_sections, write_attention_svg)
from .dataflow import dataflow_svg
from .diagram import decoder_block_svg, encoder_decoder_diagram_svg, lm_diagram_svg
from .svg import heat_color, matrix_svg, write_text
