"""A small ONNX graph builder with seeded initialisation, used by every zoo architecture.

Nodes are appended in execution order, so ``graph.node`` is already topologically sorted: the
BatchNormalization calibration walks it front to back. Channel counts are tracked per tensor so
an architecture reads like its paper's layer table instead of repeating every width twice.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
# IR 8 is what opset-13 exporters wrote; older runtimes (RKNN-Toolkit2, ncnn's onnx2ncnn) reject newer IRs.
IR_VERSION = 8
BN_EPSILON = 1e-5


class GraphBuilder:
    def __init__(self, name: str, seed: int | list[int], input_name: str, input_shape: tuple[int, int, int, int]):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.channels: dict[str, int] = {input_name: input_shape[1]}
        self.input = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))
        self._count: dict[str, int] = {}

    def _name(self, kind: str) -> str:
        n = self._count.get(kind, 0) + 1
        self._count[kind] = n
        return f"{kind}{n}"

    def _node(self, op: str, inputs: list[str], c_out: int, **attrs) -> str:
        name = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        self.channels[name] = c_out
        return name

    def _const(self, name: str, value: np.ndarray) -> str:
        self.initializers[name] = np.ascontiguousarray(value)
        return name

    # --- layers -----------------------------------------------------------------------------

    def conv(self, x: str, c_out: int, k: int | tuple[int, int], stride: int = 1, pad: int | None = None,
             groups: int = 1, bias: bool = False, gain: float = 2.0, bias_init: np.ndarray | None = None) -> str:
        """Conv with N(0, gain / fan_in) weights: gain 2 is He init (a ReLU-family layer follows),
        gain 1 is LeCun init for linear outputs such as detector heads."""
        c_in = self.channels[x]
        kh, kw = (k, k) if isinstance(k, int) else k
        if c_in % groups or c_out % groups:
            raise ValueError(f"{self.name}: groups={groups} does not divide {c_in} -> {c_out} channels")
        ph, pw = (kh // 2, kw // 2) if pad is None else (pad, pad)
        name = self._name("conv")
        fan_in = (c_in // groups) * kh * kw
        w = self.rng.normal(0.0, np.sqrt(gain / fan_in), (c_out, c_in // groups, kh, kw)).astype(np.float32)
        inputs = [x, self._const(f"{name}.weight", w)]
        if bias or bias_init is not None:
            b = np.zeros(c_out, np.float32) if bias_init is None else np.asarray(bias_init, np.float32)
            inputs.append(self._const(f"{name}.bias", b))
        self.nodes.append(helper.make_node(
            "Conv", inputs, [name], name=name, kernel_shape=[kh, kw], strides=[stride, stride],
            pads=[ph, pw, ph, pw], dilations=[1, 1], group=groups))
        self.channels[name] = c_out
        return name

    def bn(self, x: str) -> str:
        """BatchNormalization with trained-looking affine parameters; mean/var are placeholders that
        `calibrate.calibrate_batchnorm` replaces with statistics measured on images."""
        c = self.channels[x]
        name = self._name("bn")
        gamma = self.rng.uniform(0.8, 1.2, c).astype(np.float32)
        beta = self.rng.normal(0.0, 0.1, c).astype(np.float32)
        inputs = [x] + [self._const(f"{name}.{p}", v) for p, v in
                        (("scale", gamma), ("bias", beta),
                         ("mean", np.zeros(c, np.float32)), ("var", np.ones(c, np.float32)))]
        self.nodes.append(helper.make_node("BatchNormalization", inputs, [name], name=name, epsilon=BN_EPSILON))
        self.channels[name] = c
        return name

    def relu(self, x: str) -> str:
        return self._node("Relu", [x], self.channels[x])

    def relu6(self, x: str) -> str:
        lo = self._const(f"{self._name('clip_min')}", np.array(0.0, np.float32))
        hi = self._const(f"{self._name('clip_max')}", np.array(6.0, np.float32))
        return self._node("Clip", [x, lo, hi], self.channels[x])

    def prelu(self, x: str) -> str:
        c = self.channels[x]
        # Trained PReLU slopes spread around PyTorch's 0.25 initial value.
        slope = self.rng.uniform(0.1, 0.4, (c, 1, 1)).astype(np.float32)
        return self._node("PRelu", [x, self._const(f"{self._name('prelu_slope')}", slope)], c)

    def act(self, x: str, kind: str | None) -> str:
        if kind is None:
            return x
        return {"relu": self.relu, "relu6": self.relu6, "prelu": self.prelu}[kind](x)

    def conv_bn_act(self, x: str, c_out: int, k: int | tuple[int, int], stride: int = 1,
                    groups: int = 1, act: str | None = "relu", pad: int | None = None) -> str:
        return self.act(self.bn(self.conv(x, c_out, k, stride, pad=pad, groups=groups)), act)

    def neg(self, x: str) -> str:
        return self._node("Mul", [x, self._const(self._name("minus_one"), np.array(-1.0, np.float32))], self.channels[x])

    def max_pool(self, x: str, k: int, stride: int, pad: int) -> str:
        return self._node("MaxPool", [x], self.channels[x], kernel_shape=[k, k], strides=[stride, stride],
                          pads=[pad] * 4)

    def avg_pool(self, x: str, k: int, stride: int, pad: int) -> str:
        # count_include_pad=1 is PyTorch's default, which the models this mirrors were trained with.
        return self._node("AveragePool", [x], self.channels[x], kernel_shape=[k, k], strides=[stride, stride],
                          pads=[pad] * 4, count_include_pad=1)

    def add(self, a: str, b: str) -> str:
        return self._node("Add", [a, b], self.channels[a])

    def concat(self, xs: list[str], axis: int = 1) -> str:
        c = sum(self.channels[x] for x in xs) if axis == 1 else self.channels[xs[0]]
        return self._node("Concat", xs, c, axis=axis)

    def global_avg_pool(self, x: str) -> str:
        return self._node("GlobalAveragePool", [x], self.channels[x])

    def flatten(self, x: str) -> str:
        return self._node("Flatten", [x], self.channels[x], axis=1)

    def gemm(self, x: str, n_out: int, gain: float = 1.0, bias_init: np.ndarray | None = None) -> str:
        n_in = self.channels[x]
        name = self._name("fc")
        w = self.rng.normal(0.0, np.sqrt(gain / n_in), (n_out, n_in)).astype(np.float32)
        b = np.zeros(n_out, np.float32) if bias_init is None else np.asarray(bias_init, np.float32)
        self.nodes.append(helper.make_node(
            "Gemm", [x, self._const(f"{name}.weight", w), self._const(f"{name}.bias", b)], [name],
            name=name, transB=1))
        self.channels[name] = n_out
        return name

    def reshape(self, x: str, shape: list[int], channels: int) -> str:
        s = self._const(self._name("shape"), np.array(shape, np.int64))
        return self._node("Reshape", [x, s], channels)

    def transpose(self, x: str, perm: list[int], channels: int) -> str:
        return self._node("Transpose", [x], channels, perm=perm)

    def softmax(self, x: str, axis: int = -1) -> str:
        return self._node("Softmax", [x], self.channels[x], axis=axis)

    def sigmoid(self, x: str) -> str:
        return self._node("Sigmoid", [x], self.channels[x])

    def rename(self, x: str, new: str) -> str:
        """Give a graph output its public name (the spec refers to it) by renaming its producer's output."""
        for node in self.nodes:
            if x in node.input:
                raise ValueError(f"{self.name}: cannot rename {x}: it is consumed by {node.name}")
        for node in self.nodes:
            if x in node.output:
                node.output[list(node.output).index(x)] = new
        self.channels[new] = self.channels[x]
        return new

    def finish(self, outputs: list[tuple[str, list[int]]], doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.name, [self.input],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
            initializer=[numpy_helper.from_array(v, k) for k, v in self.initializers.items()])
        model = helper.make_model(graph, producer_name="convlab.zoo", doc_string=doc,
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        return model
