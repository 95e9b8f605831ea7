"""onnxruntime's Conv (plus the activation as its own node) on one shape: the reference peer."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConvlabError
from ..spec import ConvSpec


class OnnxRuntimeError(ConvlabError):
    """onnxruntime refused a model or failed running it (its own message, as one line)."""


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:600] or type(e).__name__


class Session:
    """An onnxruntime InferenceSession whose run() failures are OnnxRuntimeError (a ConvlabError the
    CLI prints as one line) instead of onnxruntime's raw exceptions inside compare/optimize."""

    def __init__(self, session):
        self._s = session

    def run(self, output_names, feeds, *args, **kw):
        try:
            return self._s.run(output_names, feeds, *args, **kw)
        except Exception as e:
            raise OnnxRuntimeError(f"onnxruntime failed running the model: {_one_line(e)}") from None

    def __getattr__(self, name):
        return getattr(self._s, name)

OPSET = 17


def activation_nodes(spec: ConvSpec, src: str, dst: str) -> tuple[list, list]:
    """ONNX nodes (and initializers) computing spec.activation from src into dst."""
    a = spec.activation
    if a.kind == "none":
        return [helper.make_node("Identity", [src], [dst])], []
    if a.kind == "relu":
        return [helper.make_node("Relu", [src], [dst])], []
    if a.kind == "relu6":
        inits = [numpy_helper.from_array(np.float32(0), "act_lo"), numpy_helper.from_array(np.float32(6), "act_hi")]
        return [helper.make_node("Clip", [src, "act_lo", "act_hi"], [dst])], inits
    if a.kind == "leaky_relu":
        return [helper.make_node("LeakyRelu", [src], [dst], alpha=a.alpha)], []
    if a.kind == "prelu":
        slope = a.slopes_for(spec.c_out).reshape(spec.c_out, 1, 1)
        return [helper.make_node("PRelu", [src, "act_slope"], [dst])], [numpy_helper.from_array(slope, "act_slope")]
    if a.kind == "sigmoid":
        return [helper.make_node("Sigmoid", [src], [dst])], []
    if a.kind == "hardswish":
        return [helper.make_node("HardSwish", [src], [dst])], []
    raise AssertionError(a.kind)


def build_conv_model(spec: ConvSpec, w: np.ndarray, b: np.ndarray | None, input_shape) -> onnx.ModelProto:
    n, c, h, wd = input_shape
    oh, ow = spec.output_hw(h, wd)
    t, l, bo, r = spec.padding
    inits = [numpy_helper.from_array(w, "W")] + ([numpy_helper.from_array(b, "B")] if b is not None else [])
    conv = helper.make_node("Conv", ["X", "W"] + (["B"] if b is not None else []), ["conv_out"],
                            kernel_shape=[spec.kh, spec.kw], strides=list(spec.stride), pads=[t, l, bo, r],
                            dilations=list(spec.dilation), group=spec.groups)
    act, act_inits = activation_nodes(spec, "conv_out", "Y")
    graph = helper.make_graph(
        [conv] + act, "conv",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [n, c, h, wd])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, spec.c_out, oh, ow])],
        inits + act_inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model


def ort_session(model: bytes | str, threads: int = 1, level: str = "ORT_ENABLE_ALL", denormal_as_zero: bool = False):
    """onnxruntime as every comparison in convlab runs it: CPU provider, `threads` intra-op threads and
    no inter-op parallelism (so a thread count means the same as convlab's), sequential execution."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if denormal_as_zero:
        so.add_session_config_entry("session.set_denormal_as_zero", "1")
    try:
        return Session(ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]))
    except Exception as e:
        where = model if isinstance(model, str) else "the model"
        raise OnnxRuntimeError(f"onnxruntime refuses {where}: {_one_line(e)}") from None


class OrtConv:
    """A prepared onnxruntime session for one conv shape; call with x."""

    def __init__(self, spec: ConvSpec, w, b, input_shape, threads: int = 1):
        # the raw session: this one is timed against convlab's kernels, so no wrapper call per run
        self.session = ort_session(build_conv_model(spec, w, b, input_shape).SerializeToString(), threads)._s

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"X": x})[0]
