"""A training run's directory: checkpoints that are whole units, the run's lock, and which files are ours.

    OUT/
      config.json  model.safetensors  [run_config.json  vocab.json  merges.txt]    copies of the newest
                                       checkpoint's model files: a text run is a Hugging Face directory
      metrics.jsonl  curves.svg        live: one line per evaluation, redrawn at every evaluation
      train.lock                       {"pid", "host"} of the process writing here (removed when it ends)
      checkpoints/step-00000300/       the newest complete checkpoint (the one before it is deleted only
          config.json  model.safetensors  [run_config.json  vocab.json  merges.txt]   once this one is
          optimizer.safetensors  trainer_state.json  metrics.jsonl                    published)
          manifest.json                every other file's size and sha256, written last

A checkpoint is written into checkpoints/.staging-*, every file fsynced, then published by ONE rename to
step-NNNNNNNN; only after that are the top-level copies replaced (each file atomically) and the older
checkpoint removed. So a crash or a full disk at any moment leaves the previous checkpoint or the new one
complete, and `--resume` takes the newest one whose files match its manifest (saying which it skipped).
"""
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from .io.atomic import atomic_write_json, atomic_writer, check_regular_file_target, file_mode, fsync_directory
from .io.jsonfile import parse_json_text
from .train_setup import TrainingError

CHECKPOINTS_DIR = "checkpoints"
MANIFEST = "manifest.json"
LOCK_FILE = "train.lock"
# The model's files, copied to the top level of --out so that loaders see a plain model directory; in this
# order: config.json (what makes a directory a model directory to loaders) comes last, after the weights.
MODEL_FILES = ("model.safetensors", "vocab.json", "merges.txt", "run_config.json", "config.json")
REQUIRED_FILES = ("config.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json")
# Files an older version of the trainer kept at the top level (a checkpoint without a manifest).
LEGACY_FILES = ("optimizer.safetensors", "trainer_state.json")
LIVE_FILES = ("metrics.jsonl", "curves.svg")
RUN_ENTRIES = set(MODEL_FILES) | set(LEGACY_FILES) | set(LIVE_FILES) | {CHECKPOINTS_DIR, LOCK_FILE}

_STEP_DIR = re.compile(r"step-(\d{8,})(?:\.(\d+))?")           # step-00000300, or step-00000300.1 (a re-save)
_HIDDEN_OURS = re.compile(r"\.(staging|deleting)-.*")         # inside checkpoints/: half-written or being removed
_TEMP_FILE = re.compile(r"\.(?P<name>[^/]+?)\.[^./]+\.tmp")    # what atomic_writer leaves if killed mid-write


class CheckpointError(TrainingError):
    """A checkpoint or run directory that cannot be used (one line, naming the file)."""


# ------------------------------------------------------------------------------------------ writing

def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def publish_checkpoint(out, step, write_files):
    """Write a checkpoint with write_files(directory) into a staging directory, add its manifest, publish it
    by one rename as checkpoints/step-NNNNNNNN, copy its model files to the top of `out`, then remove the
    older checkpoints. Returns the published directory. On any failure the staging directory is removed and
    the previous checkpoint is untouched."""
    out = Path(out)
    root = out / CHECKPOINTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    remove_hidden(root)                   # what a killed run left (the caller holds the lock: none is live)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".staging-{step:08d}-"))
    try:
        os.chmod(staging, file_mode(directory=True))              # mkdtemp makes it private
        write_files(staging)
        files = {p.name: {"size": p.stat().st_size, "sha256": sha256_of(p)} for p in sorted(staging.iterdir())}
        atomic_write_json(staging / MANIFEST, {"step": step, "files": files})
        fsync_directory(staging)
        final = root / _free_name(root, step)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(root)
    copy_model_files(final, out)
    for entry in root.iterdir():
        if entry != final and _STEP_DIR.fullmatch(entry.name):
            _remove_dir(entry)
    return final


def _free_name(root, step):
    """step-NNNNNNNN, or step-NNNNNNNN.k when a checkpoint of that step exists (a save on Ctrl-C just after
    an evaluation; a run resumed from an older checkpoint than a broken newer one)."""
    name, k = f"step-{step:08d}", 0
    while (root / (name if k == 0 else f"{name}.{k}")).exists():
        k += 1
    return name if k == 0 else f"{name}.{k}"


def copy_model_files(checkpoint, out):
    """Replace the top-level model files of `out` with the checkpoint's, each atomically (copies, not hard
    links: an editor that writes a link in place would change the checkpoint behind its manifest)."""
    for name in MODEL_FILES:
        source, target = checkpoint / name, out / name
        if source.is_file():
            with open(source, "rb") as src, atomic_writer(target, binary=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        elif target.is_file():
            target.unlink()               # e.g. vocab.json of a run this one replaced
    for name in LEGACY_FILES:             # a resumed older run's top-level trainer files now live in the checkpoint
        if (out / name).is_file():
            (out / name).unlink()
    fsync_directory(out)


def _remove_dir(directory):
    """Rename out of the way first (one atomic step: a crash mid-delete leaves no half checkpoint behind a
    step-* name), then delete."""
    doomed = directory.with_name(f".deleting-{directory.name}-{os.getpid()}")
    os.rename(directory, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_hidden(root):
    for entry in Path(root).iterdir():
        if _HIDDEN_OURS.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)


# ------------------------------------------------------------------------------------------ reading

def checkpoint_dirs(out):
    """checkpoints/step-* of `out`, newest first (by step, then by re-save number)."""
    root = Path(out) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), int(m.group(2) or 0), entry) for entry in root.iterdir()
             if (m := _STEP_DIR.fullmatch(entry.name)) and entry.is_dir()]
    return [entry for *_, entry in sorted(found, key=lambda t: t[:2], reverse=True)]


def has_checkpoint(out):
    """Whether `out` holds a checkpoint (published, or an older trainer's at the top); not yet verified."""
    return bool(checkpoint_dirs(out)) or (Path(out) / "trainer_state.json").is_file()


def verify(checkpoint):
    """Check every file of a published checkpoint against its manifest; returns the manifest."""
    where = checkpoint / MANIFEST
    try:
        manifest = parse_json_text(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{where}: missing") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{where}: unreadable ({str(e).splitlines()[0]})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise CheckpointError(f"{where}: not a checkpoint manifest (no \"files\" object)")
    for name in REQUIRED_FILES:
        if name not in files:
            raise CheckpointError(f"{where}: does not list {name}")
    for name, expected in files.items():
        path = checkpoint / name
        if "/" in name or name in (".", ".."):
            raise CheckpointError(f"{where}: bad file name {name!r}")
        if not path.is_file():
            raise CheckpointError(f"{path}: missing")
        size = path.stat().st_size
        if size != expected.get("size"):
            raise CheckpointError(f"{path}: {size:,} bytes, the manifest says {expected.get('size')}")
        if sha256_of(path) != expected.get("sha256"):
            raise CheckpointError(f"{path}: contents differ from the manifest's sha256 (changed or damaged)")
    return manifest


def newest_checkpoint(out):
    """(directory, notes): the newest checkpoint of `out` that verifies, with a note for each newer one
    skipped; an older trainer's top-level checkpoint (no manifest) if there is no published one."""
    out, notes = Path(out), []
    for checkpoint in checkpoint_dirs(out):
        try:
            verify(checkpoint)
        except CheckpointError as e:
            notes.append(f"skipped the damaged checkpoint {checkpoint.name}: {e}")
            continue
        return checkpoint, notes
    if (out / "trainer_state.json").is_file():
        return out, notes
    if notes:
        raise CheckpointError(f"--resume: no complete checkpoint in {out} ({notes[-1].split(': ', 1)[1]})")
    raise CheckpointError(f"--resume: no checkpoint in {out} (expected {out / CHECKPOINTS_DIR}/step-*)")


def read_json(path, what):
    try:
        value = parse_json_text(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a valid {what} ({str(e).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: not a valid {what} (expected a JSON object)")
    return value


def read_metrics(path, notes):
    """The evaluations in a metrics.jsonl; a half-written last line (what a kill leaves) is dropped with a
    note, a bad line anywhere else is an error."""
    if not Path(path).is_file():
        return []
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    metrics = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = parse_json_text(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
                raise ValueError("not an evaluation record")
        except ValueError as e:
            if number == len(lines):
                notes.append(f"dropped the unfinished last line of {path} (line {number})")
                break
            raise CheckpointError(f"{path}, line {number}: {str(e).splitlines()[0]}") from None
        metrics.append(entry)
    return metrics


# ---------------------------------------------------------------------------------- the --out directory

def foreign_entry(out):
    """The first entry of `out` that no run of ours writes (None if there is none)."""
    out = Path(out)
    for entry in sorted(out.iterdir()):
        temp = _TEMP_FILE.fullmatch(entry.name)
        if entry.name in RUN_ENTRIES or (temp and temp.group("name") in RUN_ENTRIES):
            continue
        return entry
    root = out / CHECKPOINTS_DIR
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if not (_STEP_DIR.fullmatch(entry.name) or _HIDDEN_OURS.fullmatch(entry.name)):
                return entry
    elif root.exists():
        return root
    return None


def out_state(out):
    """"new" (absent or empty), "run" (holds a checkpoint of ours) or "unfinished" (a run of ours that
    stopped before its first checkpoint); anything else there is refused, naming the first such file."""
    out = Path(out)
    if not out.exists():
        return "new"
    if not out.is_dir():
        raise CheckpointError(f"--out {out} is a file, not a directory")
    if not any(out.iterdir()):
        return "new"
    check_not_in_use(out)
    entry = foreign_entry(out)
    if entry is not None:
        raise CheckpointError(f"--out {out} holds {entry.name}, which is not part of a training run: choose "
                              f"another --out (nothing was written)")
    if has_checkpoint(out):
        return "run"
    stray = next((out / n for n in MODEL_FILES + LEGACY_FILES if (out / n).exists()), None)
    if stray is not None:
        raise CheckpointError(f"--out {out} holds {stray.name} but no checkpoint of a run: it is not ours to "
                              f"replace; choose another --out (nothing was written)")
    return "unfinished"


def clear_run(out):
    """Delete the files of the run in `out` (only those: out_state has checked there are no others)."""
    out = Path(out)
    for entry in out.iterdir():
        temp = _TEMP_FILE.fullmatch(entry.name)
        if entry.name == CHECKPOINTS_DIR and entry.is_dir():
            shutil.rmtree(entry)
        elif entry.name != LOCK_FILE and (entry.name in RUN_ENTRIES or temp) and entry.is_file():
            entry.unlink()


# ------------------------------------------------------------------------------------------- the lock

def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_not_in_use(out):
    """Raise CheckpointError if another live process holds the lock of `out`."""
    path = Path(out) / LOCK_FILE
    holder = _read_lock(path)
    if holder is None or holder == {"pid": os.getpid(), "host": socket.gethostname()}:
        return
    if holder["host"] != socket.gethostname():
        raise CheckpointError(f"--out {out} is in use by pid {holder['pid']} on host {holder['host']} ({path}); "
                              f"if that run has ended, delete {path}")
    if _pid_alive(holder["pid"]):
        raise CheckpointError(f"--out {out} is in use by another run (pid {holder['pid']}, {path}); wait for it "
                              f"to end or choose another --out")


def acquire_lock(out):
    """Create OUT/train.lock holding this process's pid and host. Another live run's lock is a
    CheckpointError; a lock whose process is gone is taken over. Returns a note (or None) to show."""
    path, note = Path(out) / LOCK_FILE, None
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    check_regular_file_target(path)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if holder is None and not path.exists():  # its run ended just now
                continue
            if holder == me:
                return note
            check_not_in_use(out)
            if _read_lock(path) == holder:          # still the same dead holder: take it over
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            gone = f"pid {holder['pid']}, which is no longer running" if holder else "an unreadable lock"
            note = f"took over {path} (left by {gone})"
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
            f.flush()
            os.fsync(f.fileno())
        return note
    raise CheckpointError(f"--out {out}: could not take {path} (another run is starting?)")


def release_lock(out):
    path = Path(out) / LOCK_FILE
    if _read_lock(path) == {"pid": os.getpid(), "host": socket.gethostname()}:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _read_lock(path):
    try:
        holder = parse_json_text(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    if isinstance(holder, dict) and isinstance(holder.get("pid"), int) and isinstance(holder.get("host"), str):
        return {"pid": holder["pid"], "host": holder["host"]}
    return None
