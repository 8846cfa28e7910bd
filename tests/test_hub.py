"""Tests for transformer_np.io.hub against a local HTTP server on 127.0.0.1.

Nothing here leaves the machine: every test points the hub URL and all the
cache directories at the local server and tmp_path.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import subprocess
import threading

import numpy as np
import pytest

from transformer_np.io import hub
from transformer_np.io.hub import DownloadError, download_file, resolve_model_dir
from transformer_np.io.safetensors import load_safetensors, save_safetensors


class FakeHub(http.server.ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) the way the hub does.

    Sends the sha256 as ETag, honours ``Range: bytes=N-`` with 206 +
    Content-Range, and can misbehave on demand: send ``cut_after`` bytes then
    hang up (once), ignore Range, announce another ETag, or redirect an LFS
    file to a "CDN" path, with X-Linked-Etag / X-Linked-Size on the redirect
    and a CDN ETag that is not the sha256 (as the real hub does).
    """

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeHubHandler)
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}  # overrides of the sha256 ETag
        self.redirects: set[str] = set()  # paths answered with 302 -> /cdn<path>
        self.cdn_files: dict[str, bytes] = {}  # what /cdn<path> serves, if not files[path]
        self.cut_after: int | None = None
        self.ignore_range = False
        self.no_length: set[str] = set()  # paths sent without Content-Length (the body ends at close)
        self.content_types: dict[str, str] = {}  # paths sent with this Content-Type
        self.log: list[tuple[str, str | None]] = []  # (path, Range header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeHubHandler(http.server.BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        hub_server = self.server
        hub_server.log.append((self.path, self.headers.get("Range")))
        assert "transformer_np" in self.headers.get("User-Agent", "")
        path = self.path
        if path in hub_server.redirects:
            body = hub_server.files[path]
            self.send_response(302)
            self.send_header("Location", "/cdn" + path)
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("X-Linked-Size", str(len(body)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        cdn = path.startswith("/cdn/")
        if cdn:
            body = hub_server.cdn_files.get(path[4:], hub_server.files.get(path[4:]))
        else:
            body = hub_server.files.get(path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and not hub_server.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if cdn:  # a CDN ETag that is no sha256 of the file
            self.send_header("ETag", '"d41d8cd98f00b204e9800998ecf8427e"')
        else:
            etag = hub_server.etags.get(path, hashlib.sha256(body).hexdigest())
            self.send_header("ETag", f'"{etag}"')
        if path not in hub_server.no_length:
            self.send_header("Content-Length", str(len(body) - start))
        if path in hub_server.content_types:
            self.send_header("Content-Type", hub_server.content_types[path])
        self.end_headers()
        payload = body[start:]
        if hub_server.cut_after is not None:
            payload = payload[: hub_server.cut_after]
            hub_server.cut_after = None  # only the first transfer is cut
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


@pytest.fixture
def fake_hub():
    server = FakeHub()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path, monkeypatch):
    """Point every cache and the hub URL away from the real ones."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRANSFORMER_NP_CACHE", str(tmp_path / "np_cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    for variable in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    # A closed port: should anything try the network unasked, it fails at once.
    monkeypatch.setenv("TRANSFORMER_NP_HUB_URL", f"http://127.0.0.1:{closed_port()}/{{name}}/")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_checkpoint(directory) -> dict[str, bytes]:
    """Write a small model directory; return {filename: bytes}."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    save_safetensors(directory / "model.safetensors", {"wte.weight": rng.standard_normal((64, 16)).astype(np.float32)})
    (directory / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 16}))
    (directory / "vocab.json").write_text(json.dumps({"a": 0, "b": 1}))
    (directory / "merges.txt").write_text("#version: 0.2\na b\n")
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def payload(size: int = 300_000, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# ------------------------------------------------------------------ download_file


def test_clean_download_verifies_and_renames(fake_hub, tmp_path, capsys):
    data = payload()
    fake_hub.files["/model.safetensors"] = data
    dest = tmp_path / "out" / "model.safetensors"
    result = download_file(fake_hub.url + "/model.safetensors", dest, expected_size=len(data), progress=True)
    assert result == dest and dest.read_bytes() == data
    assert not (tmp_path / "out" / "model.safetensors.part").exists()
    assert fake_hub.log == [("/model.safetensors", None)]
    progress_line = capsys.readouterr().err
    assert "\r" in progress_line and "MB/s" in progress_line and "0.3 MB" in progress_line


def test_no_progress_output_when_disabled(fake_hub, tmp_path, capsys):
    fake_hub.files["/f.bin"] = payload(1000)
    download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert capsys.readouterr().err == ""


def test_interrupted_download_resumes_with_range(fake_hub, tmp_path):
    data = payload()
    fake_hub.files["/model.safetensors"] = data
    fake_hub.cut_after = 100_000
    dest = tmp_path / "model.safetensors"
    part = tmp_path / "model.safetensors.part"
    with pytest.raises(DownloadError, match="interrupted after 100000 of 300000 bytes") as excinfo:
        download_file(fake_hub.url + "/model.safetensors", dest, progress=False)
    assert "\n" not in str(excinfo.value)
    assert not dest.exists()
    assert part.read_bytes() == data[:100_000]

    download_file(fake_hub.url + "/model.safetensors", dest, progress=False)
    assert dest.read_bytes() == data
    assert not part.exists()
    assert fake_hub.log[-1] == ("/model.safetensors", "bytes=100000-")


def test_server_ignoring_range_restarts_from_zero(fake_hub, tmp_path):
    data = payload()
    fake_hub.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from elsewhere")
    fake_hub.ignore_range = True
    download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert fake_hub.log == [("/f.bin", "bytes=26-")]


def test_complete_part_file_answered_416_is_fetched_again(fake_hub, tmp_path):
    data = payload(5000)
    fake_hub.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data + b"extra")
    download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert [r for _, r in fake_hub.log] == ["bytes=5005-", None]


def test_corrupted_file_is_rejected_and_removed(fake_hub, tmp_path):
    fake_hub.files["/model.safetensors"] = payload()
    fake_hub.etags["/model.safetensors"] = hashlib.sha256(b"the file the hub meant").hexdigest()
    dest = tmp_path / "model.safetensors"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_file(fake_hub.url + "/model.safetensors", dest, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither dest nor .part


def test_expected_sha256_argument_is_checked(fake_hub, tmp_path):
    fake_hub.files["/f.bin"] = payload(1000)
    fake_hub.etags["/f.bin"] = "0123456789abcdef0123456789abcdef01234567"  # git sha1: not a checksum
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", expected_sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_is_rejected(fake_hub, tmp_path):
    fake_hub.files["/f.bin"] = payload(1000)
    with pytest.raises(DownloadError, match="got 1000 bytes, expected 999"):
        download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", expected_size=999, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_git_sha1_etag_is_not_taken_for_sha256(fake_hub, tmp_path):
    data = b'{"small": "file kept in git"}'
    fake_hub.files["/config.json"] = data
    fake_hub.etags["/config.json"] = hashlib.sha1(data).hexdigest()
    download_file(fake_hub.url + "/config.json", tmp_path / "config.json", progress=False)
    assert (tmp_path / "config.json").read_bytes() == data


def test_lfs_redirect_checksum_comes_from_x_linked_headers(fake_hub, tmp_path):
    data = payload()
    fake_hub.files["/model.safetensors"] = data
    fake_hub.redirects.add("/model.safetensors")
    download_file(fake_hub.url + "/model.safetensors", tmp_path / "a", progress=False)
    assert (tmp_path / "a").read_bytes() == data
    assert [p for p, _ in fake_hub.log] == ["/model.safetensors", "/cdn/model.safetensors"]

    # The CDN's own ETag is no sha256; only the redirect's X-Linked-Etag can
    # catch a corrupted CDN copy.
    fake_hub.cdn_files["/model.safetensors"] = data[:-1] + b"\0"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_file(fake_hub.url + "/model.safetensors", tmp_path / "b", progress=False)
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.part").exists()


def test_interrupted_lfs_download_resumes_through_the_redirect(fake_hub, tmp_path):
    data = payload()
    fake_hub.files["/model.safetensors"] = data
    fake_hub.redirects.add("/model.safetensors")
    fake_hub.cut_after = 123_456
    with pytest.raises(DownloadError, match="interrupted"):
        download_file(fake_hub.url + "/model.safetensors", tmp_path / "m", progress=False)
    download_file(fake_hub.url + "/model.safetensors", tmp_path / "m", progress=False)
    assert (tmp_path / "m").read_bytes() == data
    assert fake_hub.log[-1] == ("/cdn/model.safetensors", "bytes=123456-")  # Range kept on redirect


def test_http_error_is_one_line(fake_hub, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as excinfo:
        download_file(fake_hub.url + "/missing.bin", tmp_path / "m", progress=False)
    assert "\n" not in str(excinfo.value)


def test_no_network_error_is_one_line_and_points_at_model_flag(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/gpt2/model.safetensors"
    with pytest.raises(DownloadError) as excinfo:
        download_file(url, tmp_path / "model.safetensors", progress=False, timeout=5)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "no network?" in message and "--model DIR" in message and url in message
    assert isinstance(excinfo.value, RuntimeError)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- resolve_model_dir


def test_local_directory_is_returned_as_is(tmp_path):
    tiny_checkpoint(tmp_path / "mine")
    assert resolve_model_dir(tmp_path / "mine") == tmp_path / "mine"
    assert resolve_model_dir(str(tmp_path / "mine")) == tmp_path / "mine"


def test_directory_without_weights_is_a_clear_error(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"half.*missing model\.safetensors"):
        resolve_model_dir(tmp_path / "half")


def test_unknown_name_lists_known_models():
    with pytest.raises(FileNotFoundError, match="gpt2-medium") as excinfo:
        resolve_model_dir("gpt3")
    assert "gpt3" in str(excinfo.value) and "\n" not in str(excinfo.value)


def make_hf_cache(tmp_path, repo_folder: str, files: dict[str, bytes], commit: str = "abc123") -> None:
    """Build the huggingface_hub layout: blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>."""
    repo = tmp_path / "hf_hub" / repo_folder
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        (snapshot / name).symlink_to(f"../../blobs/{blob}")
    # A stale snapshot that refs/main does not name must not be chosen.
    (repo / "snapshots" / "old").mkdir()
    (repo / "snapshots" / "old" / "config.json").write_text("{}")
    (repo / "snapshots" / "old" / "model.safetensors").write_bytes(b"stale")


@pytest.mark.parametrize("repo_folder", ["models--openai-community--gpt2", "models--gpt2"])
def test_complete_hf_cache_is_used_without_network(fake_hub, tmp_path, monkeypatch, repo_folder):
    files = tiny_checkpoint(tmp_path / "src")
    make_hf_cache(tmp_path, repo_folder, files)
    monkeypatch.setenv("TRANSFORMER_NP_HUB_URL", fake_hub.url + "/{name}/")
    found = resolve_model_dir("gpt2", progress=False)
    assert found == tmp_path / "hf_hub" / repo_folder / "snapshots" / "abc123"
    assert load_safetensors(found / "model.safetensors")["wte.weight"].shape == (64, 16)
    assert fake_hub.log == []  # no request at all


def test_hf_home_is_honoured(fake_hub, tmp_path, monkeypatch):
    files = tiny_checkpoint(tmp_path / "src")
    make_hf_cache(tmp_path, "models--openai-community--gpt2-medium", files)
    monkeypatch.delenv("HF_HUB_CACHE")
    (tmp_path / "hf_home").mkdir()
    (tmp_path / "hf_hub").rename(tmp_path / "hf_home" / "hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    found = resolve_model_dir("gpt2-medium", progress=False, hub_url=fake_hub.url + "/{name}/")
    assert found == tmp_path / "hf_home/hub/models--openai-community--gpt2-medium/snapshots/abc123"
    assert fake_hub.log == []


def test_partial_hf_cache_is_linked_and_only_missing_files_downloaded(fake_hub, tmp_path):
    files = tiny_checkpoint(tmp_path / "src")
    # transformers fetched the model but never the tokenizer files.
    make_hf_cache(tmp_path, "models--openai-community--gpt2", {k: files[k] for k in ("config.json", "model.safetensors")})
    for name in ("vocab.json", "merges.txt"):
        fake_hub.files[f"/gpt2/{name}"] = files[name]
    found = resolve_model_dir("gpt2", progress=False, hub_url=fake_hub.url + "/{name}/")
    assert found == tmp_path / "np_cache" / "gpt2"
    assert sorted(p for p, _ in fake_hub.log) == ["/gpt2/merges.txt", "/gpt2/vocab.json"]
    for name, data in files.items():
        assert (found / name).read_bytes() == data


def test_named_model_downloads_into_our_cache_once(fake_hub, tmp_path, monkeypatch):
    files = tiny_checkpoint(tmp_path / "src")
    for name, data in files.items():
        fake_hub.files[f"/gpt2-xl/{name}"] = data
    monkeypatch.setenv("TRANSFORMER_NP_HUB_URL", fake_hub.url)  # no {name}: appended as a folder
    found = resolve_model_dir("gpt2-xl", progress=False)
    assert found == tmp_path / "np_cache" / "gpt2-xl"
    assert {p.name: p.read_bytes() for p in found.iterdir()} == files
    requests = len(fake_hub.log)
    assert requests == 4
    assert resolve_model_dir("gpt2-xl", progress=False) == found
    assert len(fake_hub.log) == requests  # cached: nothing fetched again


def test_named_model_without_network_fails_in_one_line(tmp_path):
    with pytest.raises(DownloadError) as excinfo:
        resolve_model_dir("gpt2", progress=False)  # hub URL points at a closed port
    message = str(excinfo.value)
    assert "\n" not in message and "no network?" in message and "--model DIR" in message


# ------------------------------------------------- what is never renamed into place


def git_file(fake_hub, path: str, data: bytes) -> None:
    """Serve ``data`` as the hub serves a small file kept in git: its ETag is a sha1, no checksum."""
    fake_hub.files[path] = data
    fake_hub.etags[path] = hashlib.sha1(data).hexdigest()


def test_body_cut_short_without_content_length_stays_partial(fake_hub, tmp_path):
    data = payload(5000)
    git_file(fake_hub, "/f.bin", data)
    fake_hub.no_length.add("/f.bin")
    fake_hub.cut_after = 1200
    with pytest.raises(DownloadError, match="no size .* cannot be told from a cut-off download") as error:
        download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert "\n" not in str(error.value) and "f.bin.part" in str(error.value)
    assert not (tmp_path / "f.bin").exists() and (tmp_path / "f.bin.part").read_bytes() == data[:1200]


def test_body_without_any_size_is_not_renamed_even_when_whole(fake_hub, tmp_path):
    git_file(fake_hub, "/f.bin", payload(5000))
    fake_hub.no_length.add("/f.bin")
    with pytest.raises(DownloadError, match="no size"):
        download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert not (tmp_path / "f.bin").exists()


def test_body_without_content_length_is_renamed_when_its_sha256_matches(fake_hub, tmp_path):
    data = payload(5000)
    fake_hub.files["/f.bin"] = data  # ETag: the sha256
    fake_hub.no_length.add("/f.bin")
    download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data


def test_body_cut_short_with_a_sha256_is_deleted_not_renamed(fake_hub, tmp_path):
    fake_hub.files["/f.bin"] = payload(5000)
    fake_hub.no_length.add("/f.bin")
    fake_hub.cut_after = 1200
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_size_from_x_linked_size_that_does_not_match_is_refused(fake_hub, tmp_path):
    data = payload(4000)
    fake_hub.files["/model.safetensors"] = data
    fake_hub.redirects.add("/model.safetensors")
    fake_hub.cdn_files["/model.safetensors"] = data + b"extra"  # the CDN sends more than announced
    with pytest.raises(DownloadError, match="got 4005 bytes, expected 4000"):
        download_file(fake_hub.url + "/model.safetensors", tmp_path / "model.safetensors", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_html_page_served_with_200_is_never_cached(fake_hub, tmp_path):
    page = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
    git_file(fake_hub, "/config.json", page)
    fake_hub.content_types["/config.json"] = "text/html; charset=utf-8"
    with pytest.raises(DownloadError, match=r"web page \(text/html; charset=utf-8\), not config.json"):
        download_file(fake_hub.url + "/config.json", tmp_path / "config.json", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("body", [b'{"n_embd": 16', b"<html>not json</html>", b'{"a": "\xff"}', b"[" * 100_000])
def test_json_file_that_does_not_parse_is_never_cached(fake_hub, tmp_path, body):
    git_file(fake_hub, "/config.json", body)
    with pytest.raises(DownloadError, match="not valid JSON") as error:
        download_file(fake_hub.url + "/config.json", tmp_path / "config.json", progress=False)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_named_model_with_an_html_config_fails_and_caches_nothing(fake_hub, tmp_path, monkeypatch):
    files = tiny_checkpoint(tmp_path / "source")
    for name, data in files.items():
        fake_hub.files[f"/gpt2/{name}"] = data
    fake_hub.files["/gpt2/config.json"] = b"<html>rate limited</html>"
    fake_hub.content_types["/gpt2/config.json"] = "text/html"
    monkeypatch.setenv("TRANSFORMER_NP_HUB_URL", fake_hub.url + "/{name}/")
    with pytest.raises(DownloadError, match="web page"):
        resolve_model_dir("gpt2", progress=False)
    assert not (tmp_path / "np_cache" / "gpt2" / "config.json").exists()


def test_permission_error_names_the_file_not_the_network(fake_hub, tmp_path, monkeypatch):
    fake_hub.files["/f.bin"] = payload(1000)

    def refuse(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(hub, "open", refuse, raising=False)  # as root, chmod would not stop us
    with pytest.raises(DownloadError) as error:
        download_file(fake_hub.url + "/f.bin", tmp_path / "f.bin", progress=False)
    message = str(error.value)
    assert f"cannot write {tmp_path / 'f.bin.part'}: Permission denied" in message and "network" not in message


def test_parent_that_is_a_file_is_named(fake_hub, tmp_path):
    fake_hub.files["/f.bin"] = payload(1000)
    (tmp_path / "blocker").write_text("a file, not a directory")
    with pytest.raises(DownloadError) as error:
        download_file(fake_hub.url + "/f.bin", tmp_path / "blocker" / "f.bin", progress=False)
    assert str(error.value).startswith(f"cannot write {tmp_path / 'blocker'}: ") and "network" not in str(error.value)


@pytest.fixture
def tiny_tmpfs(small_tmpfs):
    """A 64 KB tmpfs under tmp_path (needs permission to mount; skipped otherwise)."""
    return small_tmpfs("64k", "tiny")


def test_full_disk_says_so_names_the_file_and_keeps_the_part(fake_hub, tiny_tmpfs):
    data = payload(300_000)
    fake_hub.files["/model.safetensors"] = data
    dest = tiny_tmpfs / "model.safetensors"
    with pytest.raises(DownloadError) as error:
        download_file(fake_hub.url + "/model.safetensors", dest, progress=False)
    message = str(error.value)
    assert f"cannot write {dest}.part: No space left on device" in message and "no network" not in message
    assert not dest.exists()
    assert data.startswith((tiny_tmpfs / "model.safetensors.part").read_bytes())  # kept to resume


def test_cache_folder_that_cannot_be_made_is_named(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("TRANSFORMER_NP_CACHE", str(tmp_path / "a_file" / "cache"))
    with pytest.raises(DownloadError, match=r"cannot create the cache folder .*a_file/cache/gpt2: Not a directory"):
        resolve_model_dir("gpt2", progress=False)
