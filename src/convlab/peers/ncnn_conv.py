"""ncnn's Convolution / ConvolutionDepthWise layer on one shape, as a same-run peer.

The layer is built as a two-layer net (Input -> conv) from a param text and a weight file written
at construction, because that is the path ncnn's Python API loads without a model converter.
fp32 only: fp16/bf16 storage and arithmetic are switched off so the comparison with convlab's
float32 kernels is fair; Winograd is left on (ncnn picks it per shape as it would in an app).
ncnn works on one CHW image, so a batch runs image by image.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import UnsupportedConvError
from ..spec import ConvSpec

# ncnn's fused activation_type codes (ncnn/src/layer/convolution.cpp); its parameters are an
# array, which the param format writes under id -23300 - 10.
_ACT = {"none": 0, "relu": 1, "leaky_relu": 2, "relu6": 3, "sigmoid": 4, "hardswish": 6}


def _act_params(spec: ConvSpec) -> str:
    a = spec.activation
    if a.kind not in _ACT:
        raise UnsupportedConvError("ncnn", "activation", f"{a!r} has no fused ncnn activation_type")
    code = _ACT[a.kind]
    if a.kind == "leaky_relu":
        return f" 9={code} -23310=1,{a.alpha!r}"
    if a.kind == "relu6":
        return f" 9={code} -23310=2,0.0,6.0"
    if a.kind == "hardswish":
        return f" 9={code} -23310=2,{1 / 6!r},0.5"   # x * clip(x * alpha + beta, 0, 1)
    return f" 9={code}"


def conv_param(spec: ConvSpec, input_shape) -> str:
    _, c, h, w = input_shape
    t, l, b, r = spec.padding
    layer = "ConvolutionDepthWise" if spec.groups > 1 else "Convolution"
    p = (f"0={spec.c_out} 1={spec.kw} 11={spec.kh} 2={spec.dilation[1]} 12={spec.dilation[0]} "
         f"3={spec.stride[1]} 13={spec.stride[0]} 4={l} 15={r} 14={t} 16={b} 5=1 "
         f"6={spec.c_out * (spec.c_in // spec.groups) * spec.kh * spec.kw}")
    if spec.groups > 1:
        p += f" 7={spec.groups}"
    p += _act_params(spec)
    return f"7767517\n2 2\nInput data 0 1 data 0={w} 1={h} 2={c}\n{layer} conv 1 1 data out {p}\n"


def fp32_net(ncnn, threads: int):
    """An ncnn.Net set up for an fp32 comparison: its fast CPU paths on, every reduced-precision
    storage/arithmetic (fp16, bf16, int8) and Vulkan off, `threads` threads."""
    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = threads
    opt.use_winograd_convolution = True
    opt.use_sgemm_convolution = True
    opt.use_packing_layout = True
    for flag in ("use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
                 "use_bf16_storage", "use_bf16_packed", "use_int8_inference", "use_vulkan_compute"):
        if hasattr(opt, flag):
            setattr(opt, flag, False)
    return net


class NcnnConv:
    """A loaded ncnn net for one conv shape; call with NCHW float32 x."""

    def __init__(self, spec: ConvSpec, w, b, input_shape, threads: int = 1):
        import ncnn
        self._ncnn = ncnn
        self.net = fp32_net(ncnn, threads)
        bias = np.zeros(spec.c_out, np.float32) if b is None else b
        with tempfile.TemporaryDirectory(prefix="convlab-ncnn-") as d:
            param, model = os.path.join(d, "conv.param"), os.path.join(d, "conv.bin")
            with open(param, "w") as f:
                f.write(conv_param(spec, input_shape))
            with open(model, "wb") as f:
                f.write(np.zeros(1, np.uint32).tobytes())   # flag 0: raw float32 weights follow
                f.write(np.ascontiguousarray(w, np.float32).tobytes())
                f.write(np.ascontiguousarray(bias, np.float32).tobytes())
            if self.net.load_param(param) != 0 or self.net.load_model(model) != 0:
                raise RuntimeError(f"ncnn rejected the conv net for {spec.describe()}")
        self.threads = threads

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = []
        for img in x:
            ex = self.net.create_extractor()
            ex.input("data", self._ncnn.Mat(np.ascontiguousarray(img)))
            _, y = ex.extract("out")
            out.append(np.array(y))
        return np.stack(out)
