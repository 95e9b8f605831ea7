"""Ground floor: the one atomic file writer, and JSON read/write on top of it.

Every result, model, report and gallery convlab writes goes through `atomic_write`: the bytes go to
a temporary file in the same directory, are fsync'ed, and the file is os.replace()d over the
target, so a reader (or a process killed mid-write) only ever sees the old or the new complete
file, never a torn one. Writers that must produce a file themselves (a toolkit exporting to a path)
use `temp_beside` + `publish`.

Imports nothing of convlab: every other module may import it.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def temp_beside(path: str | Path) -> Path:
    """An empty temporary file in path's directory (same filesystem, so publish() is a rename)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _sync_dir(directory: Path) -> None:
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)  # makes the rename itself durable
    finally:
        os.close(dfd)


def publish(tmp: str | Path, path: str | Path, *, mode: int | None = None, sync_dir: bool = False) -> None:
    """Rename a finished temporary file over path. Its permissions: `mode` exactly (e.g. 0o600 for a
    private file, or the mode of the file it replaces), by default a normal file's 0o666 & ~umask
    (mkstemp's own are 0600)."""
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    if sync_dir:
        _sync_dir(Path(path).resolve().parent)


def atomic_write(path: str | Path, data: str | bytes, *, mode: int | None = None, sync_dir: bool = False) -> None:
    """Write to a temporary file in the same directory, then rename: readers never see half a file.

    mode: the file's permissions (see publish); sync_dir: also fsync the directory, so the rename
    survives a power cut."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path, mode=mode, sync_dir=sync_dir)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj, *, sort_keys: bool = True, indent: int = 2) -> None:
    """obj as indented JSON (non-JSON values through str()), atomically."""
    atomic_write(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, default=str) + "\n")


def read_json(path: str | Path):
    with open(path) as f:
        return json.load(f)


def read_json_or_empty(path: str | Path) -> dict:
    """A cache's manifest: {} when it is missing or unreadable (the cache is then rebuilt, not trusted)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return {}
