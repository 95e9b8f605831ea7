"""Face alignment: least-squares similarity transform (Umeyama 1991) and affine warps.

Coordinates are continuous image coordinates: the image covers [0, W] x [0, H] and pixel (row i,
column j) has its centre at (j + 0.5, i + 0.5). The ArcFace canonical points are published in
OpenCV's convention (pixel centres on integers), hence the +0.5 when they are used here.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConvInputError

ALIGNED_SIZE = 112
# The standard 5-point ArcFace template for 112x112 crops: left eye, right eye, nose tip,
# left mouth corner, right mouth corner (left/right as seen in the image).
ARCFACE_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                           [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
CANONICAL_POINTS = ARCFACE_POINTS + 0.5


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix M = [sR | t] minimising sum ||dst_i - (s R src_i + t)||^2 (R a proper rotation).

    Umeyama's closed form: SVD of the cross-covariance, with the reflection fix so R never
    mirrors the face. Needs at least two distinct points.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or len(src) < 2:
        raise ConvInputError(f"similarity_transform needs two (N>=2, 2) point arrays of one shape, "
                             f"got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ConvInputError("similarity_transform: points must be finite")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0 ** 2).sum() / len(src)
    if var_s <= 1e-12:
        raise ConvInputError("similarity_transform: source points are all the same point")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, -a @ m[:, 2:3]])


def warp_affine(img: np.ndarray, m: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Resample img (HxWxC uint8) so that output point p shows input point M^-1 p; bilinear, black outside.

    Returns float32 HxWxC in the input's 0..255 range (no rounding: the next stage normalises anyway).
    """
    oh, ow = out_hw
    inv = invert_affine(np.asarray(m, np.float64))
    ys, xs = np.mgrid[0:oh, 0:ow]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    src = apply_affine(inv, centres) - 0.5  # to array index space, where pixel centres are integers
    return bilinear_sample(img, src[:, 0], src[:, 1]).reshape(oh, ow, img.shape[2])


def bilinear_sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """img sampled at array-index positions (x = column, y = row), as if zero-padded beyond its edges.

    Touches only the four neighbours of each sample, so a 112x112 warp out of a 12-Mpixel photo
    costs the same as out of a small one.
    """
    h, w = img.shape[:2]
    # Far-away points only ever see the zero border; clamping keeps the index arithmetic in range.
    x = np.clip(x, -2.0, w + 1.0)
    y = np.clip(y, -2.0, h + 1.0)
    x0 = np.floor(x).astype(np.intp)
    y0 = np.floor(y).astype(np.intp)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    out = np.zeros((x.size, img.shape[2]), np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            v = img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out += v * (wx * wy * inside)[:, None]
    return out


def align_face(img: np.ndarray, landmarks: np.ndarray,
               out_hw: tuple[int, int] = (ALIGNED_SIZE, ALIGNED_SIZE)) -> tuple[np.ndarray, np.ndarray]:
    """The canonical face (float32 HxWx3, 0..255) and the image->canonical matrix.

    Extractors with another input size get the ArcFace points scaled to it.
    """
    oh, ow = out_hw
    dst = CANONICAL_POINTS * np.array([ow / ALIGNED_SIZE, oh / ALIGNED_SIZE])
    m = similarity_transform(landmarks, dst)
    return warp_affine(img, m, out_hw), m


def box_to_crop_matrix(box, out_hw: tuple[int, int], expand: float = 1.0) -> np.ndarray:
    """The affine map taking box (x1, y1, x2, y2), grown by `expand` about its centre, onto an out_hw image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    bw, bh = max(x2 - x1, 1e-3) * expand, max(y2 - y1, 1e-3) * expand
    oh, ow = out_hw
    sx, sy = ow / bw, oh / bh
    return np.array([[sx, 0.0, ow / 2 - sx * cx], [0.0, sy, oh / 2 - sy * cy]])
