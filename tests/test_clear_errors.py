"""Issue 16, item 6: inputs that raised raw tracebacks are ConvlabErrors with a clear message."""
import json

import numpy as np
import pytest
from onnx import helper

from convlab.errors import ConvlabError
from convlab.engine import Model
from convlab.engine.errors import ModelInputError
from convlab.peers.onnxruntime_conv import OnnxRuntimeError, ort_session
from convlab.selection import DecisionTable

from engine_util import make_model, rand

GOOD_ENTRY = dict(k=3, stride=1, padding=1, c_in=8, c_out=8, h=16, w=16, groups=1, backend="numba", threads=1,
                  winner="direct")
GOOD_RULE = dict(family="3x3 s1", backend="numba", threads=1,
                 tree=dict(feature="c_in", threshold=16, left=dict(algo="direct"), right=dict(algo="im2col")))


def _table(tmp_path, **change):
    data = dict(format="convlab-decision-table/1", entries=[GOOD_ENTRY], rules=[GOOD_RULE])
    data.update(change)
    p = tmp_path / "decision.json"
    p.write_text(json.dumps(data))
    return p


def test_a_good_decision_table_loads(tmp_path):
    DecisionTable.load(_table(tmp_path))


@pytest.mark.parametrize("change", [
    dict(entries={"a": 1}),
    dict(entries=[dict(GOOD_ENTRY, k="3")]),
    dict(entries=[dict(GOOD_ENTRY, winner=None)]),
    dict(entries=[{k: v for k, v in GOOD_ENTRY.items() if k != "h"}]),
    dict(entries=["x"]),
    dict(rules=[dict(GOOD_RULE, tree=dict(feature="colour", threshold=1))]),
    dict(rules=[dict(GOOD_RULE, tree=dict(feature="c_in", threshold=1, left=dict(algo="direct")))]),
    dict(rules=[dict(GOOD_RULE, threads="1")]),
    dict(rules=[dict(GOOD_RULE, tree=dict(feature="c_in", threshold="16", left=dict(algo="a"), right=dict(algo="b")))]),
], ids=str)
def test_a_decision_table_with_the_right_tag_and_wrong_structure_is_refused_at_load(tmp_path, change):
    with pytest.raises(ConvlabError, match="decision table .*rebuild it"):
        DecisionTable.load(_table(tmp_path, **change))


def test_a_non_utf8_or_deeply_nested_decision_table_is_a_clear_error(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConvlabError, match="cannot read it"):
        DecisionTable.load(p)
    p.write_text("[" * 100000)
    with pytest.raises(ConvlabError, match="cannot read it"):
        DecisionTable.load(p)


def _model():
    return make_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], {"x": (1, 3, 8, 8)}, ["y"],
                      {"w": rand(4, 3, 3, 3)}).SerializeToString()


def test_a_non_utf8_override_file_is_a_clear_error(tmp_path):
    p = tmp_path / "o.json"
    p.write_bytes(b'{"conv": "\xff"}')
    with pytest.raises(ModelInputError, match="not UTF-8"):
        Model.load(_model(), overrides=str(p))


def test_onnxruntime_refusals_are_convlab_errors(tmp_path):
    with pytest.raises(OnnxRuntimeError, match="onnxruntime refuses"):
        ort_session(b"not a model")
    s = ort_session(_model())
    with pytest.raises(OnnxRuntimeError, match="onnxruntime failed running"):
        s.run(None, {"x": np.zeros((1, 5, 8, 8), np.float32)})
    assert isinstance(OnnxRuntimeError("x"), ConvlabError)
    assert s.get_inputs()[0].name == "x"        # the wrapper still is a session


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True])
def test_zoo_seed_out_of_range_is_refused(seed):
    from convlab.zoo import build_model
    with pytest.raises(ConvlabError, match="seed must be an integer"):
        build_model("mobilenet_v1", seed=seed)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, "10"])
def test_blur_threshold_must_be_a_finite_number(bad):
    from convlab.face.pipeline import FacePipeline

    class D:
        gives_landmarks = True
    with pytest.raises(ConvlabError, match="blur threshold must be a finite number"):
        FacePipeline(D(), object(), None, blur_threshold=bad)


@pytest.mark.parametrize("threads", [2**31, 0, -1])
def test_model_threads_out_of_range_is_refused(threads):
    with pytest.raises(ConvlabError, match="threads"):
        Model.load(_model(), conv="direct", threads=threads)


def test_compare_refuses_a_non_positive_repeat(tmp_path, capsys):
    from convlab.cli import main
    from engine_util import make_model
    from onnx import helper
    src = tmp_path / "m.onnx"
    src.write_bytes(make_model([helper.make_node("Relu", ["X"], ["Y"])], {"X": (1, 4)}, ["Y"]).SerializeToString())
    assert main(["compare", str(src), "--repeat", "-5"]) == 2
    assert "--repeat must be >= 1, got -5" in capsys.readouterr().err


def test_a_corrupt_face_model_is_named_in_the_error(tmp_path):
    from convlab.errors import ConvlabError
    from convlab.face.runners import ConvlabRunner
    bad = tmp_path / "detector.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ConvlabError, match="detector.onnx: not a readable ONNX model"):
        ConvlabRunner(bad)
