"""The on-disk gallery: atomic writes, concurrent processes, crashes mid-write, corrupt files."""
import json
import multiprocessing as mp
import os
import signal

import numpy as np
import pytest

from convlab.face.errors import GalleryCorruptError, GalleryError
from convlab.face.gallery import Gallery

DIM = 16


def template(k: int) -> np.ndarray:
    return np.random.default_rng(k).standard_normal(DIM).astype(np.float32)


def test_enroll_identify_remove_list(tmp_path):
    g = Gallery(tmp_path / "g.json")
    assert g.names() == {} and g.identify(template(0)) == []
    g.enroll("ann", template(1))
    assert g.enroll("ann", template(2)) == 2
    g.enroll("bob", template(3))
    assert g.names() == {"ann": 2, "bob": 1}
    best = g.identify(template(2))
    assert best[0].name == "ann" and best[0].score == pytest.approx(1.0, abs=1e-6)
    assert g.identify(template(3))[0].name == "bob"
    assert g.remove("ann") == 2
    assert g.names() == {"bob": 1}
    with pytest.raises(GalleryError, match="'ann' is not in the gallery"):
        g.remove("ann")
    with pytest.raises(GalleryError, match="16-value"):
        g.enroll("carl", np.ones(8))
    with pytest.raises(GalleryError, match="non-empty"):
        g.enroll("  ", template(4))


def test_templates_of_another_extractor_are_refused(tmp_path):
    Gallery(tmp_path / "g.json", extractor="a:1").enroll("ann", template(1))
    other = Gallery(tmp_path / "g.json", extractor="b:2")
    with pytest.raises(GalleryError, match="extractor"):
        other.enroll("bob", template(2))
    with pytest.raises(GalleryError, match="extractor"):
        other.identify(template(2))


def _enroll_many(path, prefix, n, barrier):
    barrier.wait()
    g = Gallery(path)
    for i in range(n):
        g.enroll(f"{prefix}{i}", template(i))
        g.identify(template(i))          # readers interleave with the other process's writes


def test_two_processes_enrolling_at_once_lose_nothing(tmp_path):
    path = tmp_path / "g.json"
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_enroll_many, args=(path, p, 25, barrier)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = Gallery(path).names()
    assert set(names) == {f"{p}{i}" for p in "ab" for i in range(25)}
    assert all(c == 1 for c in names.values())


def _crash_before_replace(path):
    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)   # the writer dies after writing its temp file
    os.replace = die
    Gallery(path).enroll("crasher", template(9))


def test_a_crash_mid_write_leaves_the_previous_gallery_intact(tmp_path):
    path = tmp_path / "g.json"
    g = Gallery(path)
    g.enroll("ann", template(1))
    before = path.read_bytes()
    p = mp.get_context("fork").Process(target=_crash_before_replace, args=(path,))
    p.start()
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    leftovers = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert leftovers, "the writer should have died with its temp file written"
    assert path.read_bytes() == before
    assert g.names() == {"ann": 1}
    g.enroll("bob", template(2))             # and the gallery stays usable; the next writer clears the debris
    assert g.names() == {"ann": 1, "bob": 1}
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["truncate", "edit", "garbage", "wrong_format"])
def test_a_corrupt_gallery_is_reported_and_left_alone(tmp_path, damage):
    path = tmp_path / "g.json"
    Gallery(path).enroll("ann", template(1))
    raw = path.read_bytes()
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "edit":
        doc = json.loads(raw)
        doc["entries"][0]["template"][0] += 0.5
        raw = json.dumps(doc).encode()
    elif damage == "garbage":
        raw = b"\x00\xff" * 50
    else:
        raw = json.dumps({"format": "something else"}).encode()
    path.write_bytes(raw)
    g = Gallery(path)
    for op in (g.names, lambda: g.enroll("bob", template(2)), lambda: g.identify(template(1))):
        with pytest.raises(GalleryCorruptError, match="corrupt"):
            op()
    assert path.read_bytes() == raw


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(GalleryError, match="does not exist"):
        Gallery(tmp_path / "no" / "g.json").enroll("ann", template(1))
