"""File formats and model downloads: safetensors with NumPy, the Hugging Face hub cache."""

from .hub import (
    KNOWN_MODELS,
    MODEL_FILES,
    DownloadError,
    download_file,
    resolve_model_dir,
)
from .safetensors import (
    SafetensorsError,
    load_safetensors,
    read_safetensors_header,
    read_safetensors_metadata,
    save_safetensors,
)

__all__ = [
    "KNOWN_MODELS",
    "MODEL_FILES",
    "DownloadError",
    "SafetensorsError",
    "download_file",
    "resolve_model_dir",
    "load_safetensors",
    "read_safetensors_header",
    "read_safetensors_metadata",
    "save_safetensors",
]
