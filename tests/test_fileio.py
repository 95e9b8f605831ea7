"""convlab.fileio: the one atomic writer every result, model, report and gallery goes through."""
import json
import os

import pytest

from convlab import fileio


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "r.csv"
    fileio.atomic_write(p, "old\n")
    assert os.stat(p).st_mode & 0o044, "left private (0600) like mkstemp's temporary file"

    def boom(*a):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fileio.atomic_write(p, "new\n")
    assert p.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["r.csv"], "temporary file left behind"


def test_atomic_write_fails_cleanly_after_the_temporary_file_exists(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        fileio.atomic_write(path, 123)     # neither text nor bytes: fails after the temporary file exists
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_private_mode_durable_write_and_missing_parents(tmp_path):
    p = tmp_path / "a" / "b" / "g.json"
    fileio.atomic_write(p, b"{}", mode=0o600, sync_dir=True)
    assert p.read_bytes() == b"{}" and os.stat(p).st_mode & 0o077 == 0


def test_publish_moves_a_temporary_file_written_by_someone_else(tmp_path):
    out = tmp_path / "model.rknn"
    tmp = fileio.temp_beside(out)
    assert tmp.parent == tmp_path and tmp.name.endswith(".tmp") and tmp.read_bytes() == b""
    tmp.write_bytes(b"rknn")
    fileio.publish(tmp, out)
    assert out.read_bytes() == b"rknn" and not tmp.exists() and os.stat(out).st_mode & 0o044


def test_json_round_trip(tmp_path):
    p = tmp_path / "t.json"
    fileio.write_json(p, {"b": 1, "a": tmp_path})
    assert p.read_text().startswith('{\n  "a"'), "sorted keys, indented"
    assert fileio.read_json(p) == {"a": str(tmp_path), "b": 1}
    assert json.loads(p.read_text()) == fileio.read_json(p)
