"""Issue 16, the gallery: a symlinked gallery stays a symlink, rewrites keep the file's mode, a
read-only filesystem still lists, and forged or deeply nested JSON is GalleryCorruptError."""
from __future__ import annotations

import errno
import json
import os
import stat

import numpy as np
import pytest

from convlab.face import gallery as gallery_mod
from convlab.face.errors import GalleryCorruptError, GalleryError
from convlab.face.gallery import Gallery, _digest


def _t(seed, dim=8):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def test_a_symlinked_gallery_is_written_through_and_stays_a_link(tmp_path):
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    target = real_dir / "g.json"
    link = tmp_path / "g.json"
    Gallery(target).enroll("ann", _t(0))
    link.symlink_to(target)
    Gallery(link).enroll("bob", _t(1))
    Gallery(link).remove("ann")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert Gallery(target).names() == {"bob": 1} == Gallery(link).names()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_rewrites_keep_the_file_mode(tmp_path):
    p = tmp_path / "g.json"
    Gallery(p).enroll("ann", _t(0))
    os.chmod(p, 0o640)
    Gallery(p).enroll("bob", _t(1))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    q = tmp_path / "new.json"
    old = os.umask(0o022)
    try:
        Gallery(q).enroll("ann", _t(0))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(q).st_mode) == 0o644   # a new gallery: normal permissions, not mkstemp's 0600


def test_a_read_only_filesystem_still_lists(tmp_path, monkeypatch):
    p = tmp_path / "g.json"
    g = Gallery(p)
    g.enroll("ann", _t(0))
    os.unlink(g.lock_path)
    real_open = os.open

    def ro_open(path, flags, *a, **k):
        if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *a, **k)
    monkeypatch.setattr(gallery_mod.os, "open", ro_open)
    assert g.names() == {"ann": 1}
    assert g.identify(_t(0))[0].name == "ann"
    with pytest.raises(GalleryError, match="cannot be changed: Read-only file system.*reading it"):
        g.enroll("bob", _t(1))


def _forge(path, doc_update=None, dim=8, entries=None, extractor=None):
    entries = entries if entries is not None else [{"name": "ann", "template": [0.0] * dim}]
    doc = {"format": "convlab-face-gallery", "version": 1, "dim": dim, "extractor": extractor, "entries": entries}
    doc["sha256"] = _digest(dim, extractor, entries)
    doc.update(doc_update or {})
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("forge", [
    dict(entries=[{"name": "a", "template": ["x"] * 8}]),
    dict(entries=[{"name": "a", "template": [float("nan")] * 8}]),
    dict(entries=[{"name": "a", "template": [True] * 8}]),
    dict(entries=["just a string"]),
    dict(entries={"not": "a list"}),
    dict(dim="8", entries=[{"name": "a", "template": [0.0] * 8}]),
    dict(dim=0, entries=[]),
    dict(extractor=["x"]),
], ids=str)
def test_forged_gallery_with_a_valid_checksum_is_corrupt(tmp_path, forge):
    p = tmp_path / "g.json"
    _forge(p, **forge)
    with pytest.raises(GalleryCorruptError):
        Gallery(p).names()
    with pytest.raises(GalleryCorruptError):
        Gallery(p).identify(_t(0))


def test_deeply_nested_json_is_corrupt(tmp_path):
    p = tmp_path / "g.json"
    p.write_text("[" * 200000 + "]" * 200000)
    with pytest.raises(GalleryCorruptError, match="nested too deeply|corrupt"):
        Gallery(p).names()
