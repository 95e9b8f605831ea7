"""Boxes and landmarks drawn on the image, for `convlab run --save-vis`."""
from __future__ import annotations

import numpy as np

# Left eye, right eye, nose, left and right mouth corner.
POINT_COLOURS = [(255, 0, 0), (0, 128, 255), (0, 255, 0), (255, 0, 255), (255, 255, 0)]


def draw_faces(rgb: np.ndarray, faces):
    """A Pillow image of rgb with each face's box, score and five landmarks drawn on it."""
    from PIL import Image, ImageDraw
    im = Image.fromarray(rgb)
    d = ImageDraw.Draw(im)
    r = max(1, round(min(rgb.shape[:2]) / 200))
    for f in faces:
        d.rectangle([float(v) for v in f.box], outline=(0, 255, 0), width=r)
        d.text((float(f.box[0]) + 2, float(f.box[1]) + 1), f"{f.score:.2f}", fill=(0, 255, 0))
        for (x, y), c in zip(f.landmarks, POINT_COLOURS):
            d.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], fill=c)
    return im


def save_visualisation(rgb: np.ndarray, faces, path) -> None:
    from .errors import ImageError
    try:
        draw_faces(rgb, faces).save(path)
    except (ValueError, KeyError) as e:  # Pillow: unknown extension / format
        raise ImageError(f"cannot save the visualisation to {path}: {e}") from e
