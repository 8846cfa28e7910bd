"""Test helper: write a run directory in the format the trainer used before text runs became Hugging Face
directories (config.json with "model" / "model_config" / "task" / "train"; our own parameter names)."""
import json

from transformer_np.io.safetensors import save_safetensors


def write_old_run(directory, model, task, train):
    directory.mkdir()
    save_safetensors(directory / "model.safetensors", model.state_dict(), {"step": "10"})
    (directory / "config.json").write_text(json.dumps({
        "model": "TransformerLM", "model_config": model.config, "dtype": "float32", "task": task, "train": train}))
    return directory
