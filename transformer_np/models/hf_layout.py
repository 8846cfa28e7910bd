"""A TransformerLM in Hugging Face's layout, whichever family its configuration belongs to: GPT-2 or Llama.

The trainer writes text runs as Hugging Face directories; these three functions pick the family from the
model's configuration (rotary positions = the Llama configuration), so the trainer need not know it.
"""
from . import gpt2, llama


def is_llama_style(model):
    return model.config.get("positional") == "rope"


def hf_config(model):
    """config.json: LlamaConfig's keys for the Llama configuration, GPT2Config's otherwise."""
    return llama.hf_config(model) if is_llama_style(model) else gpt2.hf_config_from_lm(model)


def hf_tensors(model):
    """The weights under the checkpoint's names (and layout), float32."""
    return llama.hf_tensors(model) if is_llama_style(model) else gpt2.hf_tensors(model)


def our_state_dict(model, tensors):
    """Checkpoint tensors -> our parameter names, ready for model.load_state_dict."""
    if is_llama_style(model):
        return llama.llama_state_dict(tensors, model.config["tie_head"])
    return gpt2.gpt2_state_dict(tensors)
