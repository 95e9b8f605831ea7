"""A model exported by another tool: a small MobileNet-like PyTorch module (BN, ReLU6, depthwise,
Hardswish, PReLU, ZeroPad2d, upsample, concat, residual add, flatten + linear) through torch.onnx.export, loaded by
convlab and compared with onnxruntime and with PyTorch itself.

torch 2.13's default exporter (dynamo=True) needs onnxscript, which is not installed; the
TorchScript exporter (dynamo=False) works offline and is what older exports in the wild look like.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


from engine_util import assert_matches_ort  # noqa: E402


class Block(nn.Module):
    """MobileNetV2/V3 inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project."""

    def __init__(self, c, expand, act):
        super().__init__()
        e = c * expand
        self.body = nn.Sequential(nn.Conv2d(c, e, 1, bias=False), nn.BatchNorm2d(e), act(),
                                  nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False), nn.BatchNorm2d(e), act(),
                                  nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


class TinyMobileNet(nn.Module):
    def __init__(self, upsample_mode="bilinear"):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.b1 = Block(16, 2, nn.ReLU6)
        self.down = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(16, 24, 3, stride=2), nn.BatchNorm2d(24),
                                  nn.Hardswish())
        self.b2 = Block(24, 2, nn.Hardswish)
        self.lateral = nn.Sequential(nn.Conv2d(24, 16, 1), nn.PReLU(16))
        kw = {"align_corners": False} if upsample_mode == "bilinear" else {}
        self.up = nn.Upsample(scale_factor=2, mode=upsample_mode, **kw)
        self.head = nn.Sequential(nn.Conv2d(32, 8, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2, ceil_mode=True))
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        s = self.b1(self.stem(x))
        d = self.lateral(self.b2(self.down(s)))
        y = self.head(torch.cat([s, self.up(d)], dim=1))
        return torch.softmax(self.fc(torch.flatten(y, 1)), dim=1), d


def export(opset: int, dynamic: bool, upsample_mode="bilinear"):
    torch.manual_seed(0)
    net = TinyMobileNet(upsample_mode)
    with torch.no_grad():   # non-trivial BN statistics, so folding them is actually exercised
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.randn(1, 3, 32, 32)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), f, dynamo=False, opset_version=opset, input_names=["x"],
                          output_names=["probs", "features"],
                          dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}} if dynamic else None)
    with torch.no_grad():
        expected = [t.numpy() for t in net(x)]
    return onnx.load_from_string(f.getvalue()), x.numpy(), expected


@pytest.mark.parametrize("opset,dynamic,mode", [(9, False, "nearest"), (11, True, "bilinear"),
                                                (13, False, "bilinear"), (17, True, "bilinear")])
def test_pytorch_export_loads_and_matches(opset, dynamic, mode):
    model, x, from_torch = export(opset, dynamic, mode)
    shapes = {"x": x.shape} if dynamic else None
    for passes in ("none", "all"):
        m = assert_matches_ort(model, {"x": x}, passes=passes, input_shapes=shapes, rtol=1e-4, atol=1e-4)
        got = m.run({"x": x})
        np.testing.assert_allclose(got["probs"], from_torch[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["features"], from_torch[1], rtol=1e-4, atol=1e-4 * np.abs(from_torch[1]).max())
    ops = {n.op for n in m.graph.nodes}
    assert "BatchNormalization" not in ops and "Shape" not in ops and "Pad" not in ops
    fused = {n.fused.kind for n in m.graph.nodes if n.fused is not None}
    assert {"relu6", "hardswish", "prelu", "leaky_relu"} <= fused, fused
