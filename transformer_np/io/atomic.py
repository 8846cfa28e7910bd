"""Write a file so that nobody ever sees half of it: the one writer every file the package saves goes through.

    with atomic_writer(path, binary=True) as f:     # f: a file object open on a temporary file
        f.write(data)
    atomic_write_text(path, text); atomic_write_bytes(path, data); atomic_write_json(path, obj)

The steps, and why each one:
1. refuse a target that exists and is not a regular file (a device, FIFO, directory or socket): renaming
   over it would replace, say, /dev/full with a regular file, and opening it would block on a FIFO;
2. write a temporary file in the target's directory (a rename is atomic only within one file system);
3. fsync it: otherwise a power cut after the rename can leave the new name pointing at empty blocks;
4. rename it over the target (os.replace: readers see the old file or the new one, never a mix);
5. fsync the directory, so that the rename itself survives a power cut.
On any failure (a full disk, no permission, Ctrl-C) the temporary file is removed and the target is left as
it was; OSError messages name the target (the bare "[Errno 28] No space left on device" names nothing).
"""
import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_writer", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "append_text",
           "check_regular_file_target", "fsync_directory", "file_mode"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_regular_file_target(path):
    """Raise OSError (one line, naming `path`) if `path` exists and is not a regular file (or a link to one)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:            # e.g. a path below a regular file: "Not a directory"
        raise OSError(e.errno, e.strerror, str(path)) from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise OSError(errno.EEXIST, f"is {kind}, not a regular file: refusing to write over it", str(path))


def fsync_directory(directory):
    """Make the renames done in `directory` durable. File systems that cannot fsync a directory are skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def file_mode(directory=False):
    """The mode a plain open() (or mkdir) would give a new file (mkstemp's and mkdtemp's are private)."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _naming(error, path):
    """The same OSError with the target as its file name (a temporary file's name means nothing to a user)."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror or str(error), str(path))


@contextlib.contextmanager
def atomic_writer(path, binary=False, encoding="utf-8"):
    """Yield a file object on a temporary file beside `path`; on a clean exit it becomes `path` (steps
    1-5 of the module docstring); on an exception it is deleted and `path` is untouched."""
    path = Path(path)
    check_regular_file_target(path)
    temp = None
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else dict(encoding=encoding, newline="\n"))) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, file_mode())
        check_regular_file_target(path)      # still a regular file (or nothing) after the write
        os.replace(temp, path)
        temp = None
        fsync_directory(path.parent)
    except OSError as e:
        raise _naming(e, path) from None
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def atomic_write_bytes(path, data):
    with atomic_writer(path, binary=True) as f:
        f.write(data)


def atomic_write_text(path, text, encoding="utf-8"):
    with atomic_writer(path, encoding=encoding) as f:
        f.write(text)


def atomic_write_json(path, obj, indent=1):
    """JSON, ending with a newline. The object is serialised before the file is touched, so a value JSON
    cannot hold raises TypeError with the target as it was."""
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def append_text(path, text):
    """Append `text` to a log such as metrics.jsonl (not atomic: a reader of a log skips a half-written last
    line); errors name the file."""
    check_regular_file_target(path)
    try:
        with open(path, "a", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except OSError as e:
        raise _naming(e, path) from None
