"""Issue 16, memory: an input too big for this machine is refused before allocation with the
figure (needs N GB of activations, this machine has M GB), not killed by the OOM killer."""
import numpy as np
import pytest
from onnx import helper

from convlab import memory
from convlab.engine import Model
from convlab.engine.errors import ModelInputError
from convlab.errors import ConvInputError, ConvlabError

from engine_util import make_model, rand


def _conv_relu(c_out=32):
    return make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv1"),
                       helper.make_node("Relu", ["c"], ["y"], name="relu1")],
                      {"x": ("N", 3, "H", "W")}, ["y"], {"w": rand(c_out, 3, 3, 3)}).SerializeToString()


def test_available_memory_is_read():
    have = memory.available_bytes()
    assert have is None or have > 0


def test_30000x30000_input_is_refused_at_load_with_the_figure():
    have = memory.available_bytes()
    if have is None or have > 39e9:
        pytest.skip("no /proc/meminfo, or a machine where 39.6 GB of activations fit")
    # 1x32x15000x15000 float32 after the first conv: 28.8 GB (the figure), plus the 10.8 GB input
    with pytest.raises(ModelInputError, match=r"needs \d+\.\d GB of activations, this machine has "
                                              r"\d+\.\d GB available") as info:
        Model.load(_conv_relu(), {"x": (1, 3, 30000, 30000)})
    assert "x 1x3x30000x30000" in str(info.value)


def test_huge_declared_shape_is_refused_not_overflowed():
    with pytest.raises(ConvlabError):
        Model.load(_conv_relu(), {"x": (1, 3, 2**40, 2**40)})


def test_limit_follows_mem_available(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**6)   # a 1 MB machine
    with pytest.raises(ModelInputError, match="at node 'conv1'|at node 'relu1'|the inputs"):
        Model.load(_conv_relu(), {"x": (1, 3, 200, 200)})
    with pytest.raises(ConvInputError, match=r"needs \d+\.\d GB of output and scratch memory"):
        import convlab
        convlab.conv2d(np.zeros((1, 3, 300, 300), np.float32), np.zeros((32, 3, 3, 3), np.float32), algo="im2col")
    monkeypatch.setattr(memory, "available_bytes", lambda: None)    # unknown: nothing refused
    Model.load(_conv_relu(), {"x": (1, 3, 200, 200)})


def test_normal_models_still_load():
    m = Model.load(_conv_relu(), {"x": (1, 3, 64, 64)})
    assert m.run({"x": rand(1, 3, 64, 64)})["y"].shape == (1, 32, 32, 32)
