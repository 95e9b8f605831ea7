"""What the studies share: zoo models built once per process, their inputs, onnxruntime sessions."""
from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=None)
def zoo_model(name: str):
    """The zoo model, built once per process (the studies only read it)."""
    from .. import zoo
    return zoo.build_model(name)


def model_input(zm, image: np.ndarray) -> dict[str, np.ndarray]:
    """The model's feed from one (3, H, W) pixel image, resized to the model's input."""
    from skimage import transform
    from .. import zoo
    s = zm.spec.input
    x = transform.resize(image.transpose(1, 2, 0), (s.height, s.width), preserve_range=True, anti_aliasing=True)
    return {zm.model.graph.input[0].name: zoo.normalise_images(x.transpose(2, 0, 1)[None].astype(np.float32), zm.spec)}
