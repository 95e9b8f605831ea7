"""Blur pre-filter: the variance of the Laplacian of the luma (Pech-Pacheco et al. 2000).

Sharp images have strong second derivatives at edges, so a low variance means a blurry (or
featureless) frame not worth running the networks on. The value depends on image content and
size; 100 on 8-bit images is the customary starting threshold, to be tuned per camera.
"""
from __future__ import annotations

import numpy as np


def laplacian_variance(rgb: np.ndarray) -> float:
    img = np.asarray(rgb, np.float64)
    luma = img @ np.array([0.299, 0.587, 0.114]) if img.ndim == 3 else img
    # 4-neighbour Laplacian on the interior (no padding, so borders do not create fake edges).
    lap = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * luma[1:-1, 1:-1])
    return float(lap.var())
