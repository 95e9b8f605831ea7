"""A 1:N face gallery in one JSON file, safe for several processes at once.

Writes are atomic: the new content goes to a temporary file in the same directory, is fsync'ed,
then os.replace()d over the gallery (and the directory fsync'ed), so a crash at any point leaves
either the old or the new gallery, never a mix. Every read-modify-write holds an exclusive
fcntl.flock on a side lock file (the gallery file itself is replaced, so it cannot carry the lock);
reads hold a shared lock. The content carries a SHA-256 of its entries: a file that fails to parse
or to verify raises GalleryCorruptError and is never overwritten by a fresh empty gallery.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass

import numpy as np

from ..fileio import atomic_write
from .compare import l2_normalise
from .errors import GalleryCorruptError, GalleryError

FORMAT = "convlab-face-gallery"
VERSION = 1


@dataclass(frozen=True)
class Match:
    name: str
    score: float      # best cosine similarity over the name's templates


def _digest(dim: int, extractor: str | None, entries: list) -> str:
    canon = json.dumps({"dim": dim, "extractor": extractor, "entries": entries}, sort_keys=True,
                       separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


class Gallery:
    """Named templates on disk. Each name may hold several templates (enrolled separately).

    extractor: an identifier of the model that makes the templates (runners.fingerprint). Templates
    of different extractors are not comparable, so a gallery records the first one it is given and
    refuses any other.
    """

    def __init__(self, path, extractor: str | None = None):
        self.path = os.fspath(path)
        self.extractor = extractor

    @property
    def real_path(self) -> str:
        """The file the gallery really is: a gallery path that is a symlink is written through to its
        target (replacing the link by a regular file made two diverging galleries, issue 16)."""
        return os.path.realpath(self.path)

    @property
    def lock_path(self) -> str:
        return self.real_path + ".lock"     # one lock whichever link the gallery is reached by

    @contextlib.contextmanager
    def _locked(self, exclusive: bool):
        parent = os.path.dirname(self.real_path)
        if not os.path.isdir(parent):
            raise GalleryError(f"gallery directory {parent} does not exist")
        if not exclusive and not os.path.exists(self.lock_path):
            # No writer ever ran here, and writes are atomic renames anyway: a reader needs no lock
            # and must not leave a .lock file behind (`gallery list` on a fresh path).
            yield
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise GalleryError(f"gallery {self.path}: cannot open its lock file {self.lock_path}: "
                                   f"{e.strerror}") from None
            if exclusive:
                raise GalleryError(f"gallery {self.path} cannot be changed: {e.strerror} ({self.lock_path}); "
                                   "reading it (list, identify) still works") from None
            # Read-only filesystem or directory: nobody can replace the file under us, and writers
            # replace it atomically anyway, so reading without the shared lock is safe.
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> tuple[int | None, str | None, list]:
        """(dim, extractor, entries) of the file on disk; (None, our extractor, []) if there is none yet.

        Also checks the gallery's extractor against ours (when both are known).
        """
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None, self.extractor, []
        except OSError as e:
            raise GalleryError(f"gallery {self.path}: cannot read: {e.strerror}") from None
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("not a convlab face gallery")
            if doc.get("version") != VERSION:
                raise ValueError(f"unsupported version {doc.get('version')!r}")
            dim, entries, extractor = doc["dim"], doc["entries"], doc.get("extractor")
            # A checksum proves integrity, not sense: a forged file can carry a valid one, so the
            # structure is checked as well (it used to fail later inside numpy).
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or not isinstance(entries, list) \
                    or not (extractor is None or isinstance(extractor, str)):
                raise ValueError("malformed header (dim, entries, extractor)")
            if doc.get("sha256") != _digest(dim, extractor, entries):
                raise ValueError("checksum mismatch (the file was modified or damaged)")
            for e in entries:
                if not isinstance(e, dict) or not isinstance(e.get("name"), str) \
                        or not isinstance(e.get("template"), list) or len(e["template"]) != dim \
                        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                   for v in e["template"]):
                    raise ValueError("malformed entry")
        except RecursionError:
            raise GalleryCorruptError(f"gallery {self.path} is corrupt: JSON nested too deeply; it was left "
                                      "untouched (move it aside to start a new gallery)") from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise GalleryCorruptError(f"gallery {self.path} is corrupt: {e}; it was left untouched "
                                      "(move it aside to start a new gallery)") from e
        if entries and self.extractor and extractor and extractor != self.extractor:
            raise GalleryError(f"gallery {self.path} holds templates of extractor {extractor}, not of the "
                               f"extractor in use ({self.extractor}); templates of different models do not compare")
        return dim, extractor or self.extractor, entries

    def _write(self, dim: int, extractor: str | None, entries: list) -> None:
        extractor = extractor if entries else None  # an emptied gallery accepts any extractor again
        doc = {"format": FORMAT, "version": VERSION, "dim": dim, "extractor": extractor, "entries": entries,
               "sha256": _digest(dim, extractor, entries)}
        data = json.dumps(doc, indent=1).encode()
        target = self.real_path
        parent = os.path.dirname(target)
        prefix = "." + os.path.basename(target) + "."
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)     # keep the file's mode (mkstemp's is 0600)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        try:
            self._replace(parent, prefix, target, data, mode)
        except OSError as e:
            raise GalleryError(f"gallery {self.path}: cannot write: {e.strerror}") from None

    @staticmethod
    def _replace(parent: str, prefix: str, target: str, data: bytes, mode: int) -> None:
        # Every writer holds the exclusive lock from temp file to rename, so a temp file found now is
        # what a crashed writer left behind.
        for name in os.listdir(parent):
            if name.startswith(prefix) and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(parent, name))
        atomic_write(target, data, mode=mode, sync_dir=True)

    def enroll(self, name: str, template) -> int:
        """Add a template under name; returns how many templates the name now has."""
        if not isinstance(name, str) or not name.strip():
            raise GalleryError("a gallery name must be a non-empty string")
        t = l2_normalise(template)
        with self._locked(exclusive=True):
            dim, extractor, entries = self._read()
            if entries and dim != t.size:
                raise GalleryError(f"template has {t.size} values but the gallery holds {dim}-value templates")
            entries.append({"name": name, "template": [float(v) for v in t]})
            self._write(t.size, extractor, entries)
            return sum(e["name"] == name for e in entries)

    def remove(self, name: str) -> int:
        """Remove every template of name; returns how many were removed."""
        with self._locked(exclusive=True):
            dim, extractor, entries = self._read()
            kept = [e for e in entries if e["name"] != name]
            if len(kept) == len(entries):
                raise GalleryError(f"{name!r} is not in the gallery {self.path}")
            self._write(dim, extractor, kept)
            return len(entries) - len(kept)

    def names(self) -> dict[str, int]:
        """Name -> number of templates, in enrollment order."""
        with self._locked(exclusive=False):
            _, _, entries = self._read()
        counts: dict[str, int] = {}
        for e in entries:
            counts[e["name"]] = counts.get(e["name"], 0) + 1
        return counts

    def templates(self) -> tuple[list[str], np.ndarray]:
        with self._locked(exclusive=False):
            dim, _, entries = self._read()
        mat = np.array([e["template"] for e in entries], np.float32).reshape(len(entries), dim or 0)
        return [e["name"] for e in entries], mat

    def identify(self, template, top: int = 5) -> list[Match]:
        """The best-matching names, best first (cosine similarity of the closest template per name)."""
        t = l2_normalise(template)
        names, mat = self.templates()
        if not names:
            return []
        if mat.shape[1] != t.size:
            raise GalleryError(f"template has {t.size} values but the gallery holds {mat.shape[1]}-value templates")
        scores = mat.astype(np.float64) @ t.astype(np.float64)
        best: dict[str, float] = {}
        for n, s in zip(names, scores):
            best[n] = max(best.get(n, -1.0), float(s))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:top]
        return [Match(n, min(s, 1.0)) for n, s in ranked]
