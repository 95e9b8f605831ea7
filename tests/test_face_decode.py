"""Anchor-free detector decoding (CenterFace / CenterNet heatmaps). SSD decoding, top-k and NMS are
convlab.postprocess's, tested there."""
import numpy as np
import pytest

from convlab.face.errors import ModelSpecError
from convlab.face.heatmap_decode import HeatmapDecoding, decode_heatmap

# Two faces on a 24x32 map (stride 4 -> a 96x128 input): (row, col, score, h, w, off_y, off_x).
FACES = [(5, 7, 0.9, 40.0, 32.0, 0.25, -0.5), (15, 20, 0.7, 20.0, 24.0, -0.1, 0.3)]
LANDMARKS = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])   # (x, y) box fractions


def centerface_maps():
    hm = np.full((1, 1, 24, 32), 0.01, np.float32)
    size = np.zeros((1, 2, 24, 32), np.float32)
    off = np.zeros((1, 2, 24, 32), np.float32)
    lm = np.zeros((1, 10, 24, 32), np.float32)
    for r, c, s, h, w, oy, ox in FACES:
        hm[0, 0, r, c] = s
        size[0, :, r, c] = np.log([h / 4, w / 4])            # (y, x) order, log(size / stride)
        off[0, :, r, c] = oy, ox
        lm[0, :, r, c] = LANDMARKS[:, ::-1].ravel()           # (y, x) per point
    return hm, size, off, lm


def expected_boxes(shift):
    out = []
    for r, c, s, h, w, oy, ox in FACES:
        cx, cy = (c + ox + shift) * 4, (r + oy + shift) * 4
        out.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return np.array(out)


def test_centerface_decoder_recovers_the_planted_faces():
    boxes, scores, pts = decode_heatmap(*centerface_maps(), threshold=0.5)
    np.testing.assert_allclose(scores, [0.9, 0.7])
    np.testing.assert_allclose(boxes, expected_boxes(0.5), atol=1e-4)
    for b, p in zip(boxes, pts):
        want = b[:2] + LANDMARKS * (b[2:] - b[:2])
        np.testing.assert_allclose(p, want, atol=1e-4)


def test_centerface_decoder_threshold_and_no_landmarks():
    hm, size, off, _ = centerface_maps()
    boxes, scores, pts = decode_heatmap(hm, size, off, None, threshold=0.8)
    assert pts is None and boxes.shape == (1, 4) and scores.tolist() == pytest.approx([0.9])
    boxes, scores, _ = decode_heatmap(hm, size, off, None, threshold=0.95)
    assert boxes.shape == (0, 4) and scores.shape == (0,)


def test_centernet_dialect_keeps_local_maxima_only():
    hm = np.zeros((1, 1, 24, 32), np.float32)
    size = np.zeros((1, 2, 24, 32), np.float32)
    off = np.zeros((1, 2, 24, 32), np.float32)
    for r, c, s, h, w, oy, ox in FACES:
        hm[0, 0, r - 1:r + 2, c - 1:c + 2] = s - 0.05        # a blob whose centre is the peak
        hm[0, 0, r, c] = s
        size[0, :, r, c] = w / 4, h / 4                       # (x, y) order, linear in cells
        off[0, :, r, c] = ox, oy
    boxes, scores, _ = decode_heatmap(hm, size, off, threshold=0.5, cfg=HeatmapDecoding.centernet())
    np.testing.assert_allclose(boxes, expected_boxes(0.0), atol=1e-4)
    assert len(decode_heatmap(hm, size, off, threshold=0.5)[0]) == 18   # without local_max: every blob cell


def test_heatmap_decoder_rejects_mismatched_maps():
    hm, size, off, lm = centerface_maps()
    with pytest.raises(ModelSpecError, match="size"):
        decode_heatmap(hm, size[:, :, :10], off, threshold=0.5)
    with pytest.raises(ModelSpecError, match="landmarks"):
        decode_heatmap(hm, size, off, lm[:, :8], threshold=0.5)
