"""The study images: photographs of people bundled with scikit-image (no download) plus generated
ones, as detector-sized RGB pixel batches (N, 3, H, W) in [0, 255]."""
from __future__ import annotations

import numpy as np

# Bundled in scikit-image's own data directory (not fetched by pooch): astronaut (a portrait),
# camera (a man with a camera), lfw_subset (200 25x25 faces, tiled into one group photo).
PEOPLE = ("astronaut", "camera", "lfw_subset")


def _rgb(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if a.max() <= 1.0:
        a = a * 255
    return np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a[..., :3]


def _lfw_group() -> np.ndarray:
    from skimage import data
    faces = data.lfw_subset()[:48]                   # 6 x 8 tiles of 25x25 faces
    return faces.reshape(6, 8, 25, 25).transpose(0, 2, 1, 3).reshape(150, 200)


def people_photo(name: str, height: int, width: int) -> np.ndarray:
    from skimage import data, transform
    img = _lfw_group() if name == "lfw_subset" else getattr(data, name)()
    return transform.resize(_rgb(img), (height, width), anti_aliasing=True, preserve_range=True)


def study_images(height: int, width: int, n_generated: int, people=PEOPLE) -> tuple[list[str], np.ndarray]:
    """(names, (N, 3, H, W) float32 pixels in [0, 255])."""
    from ..zoo.calibrate import generated_images
    photos = [people_photo(n, height, width).transpose(2, 0, 1) for n in people]
    gen = generated_images(n_generated, height, width, seed=[7]) if n_generated else np.zeros((0, 3, height, width))
    names = list(people) + [f"generated_{i}" for i in range(n_generated)]
    return names, np.concatenate([np.stack(photos) if photos else gen[:0], gen]).astype(np.float32)
