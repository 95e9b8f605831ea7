"""Image loading: any file Pillow reads, or a built-in photo, to an RGB uint8 HxWx3 array.

Mode policy: convert what has one obvious RGB meaning (bilevel, grey, palette, alpha, CMYK,
YCbCr, 16-bit grey), refuse what does not (32-bit integer and float images carry no agreed
range, so any scaling we picked would be a silent guess).
"""
from __future__ import annotations

import io
import os

import numpy as np

from ..errors import ConvlabError
from .errors import ImageError

BUILTIN_PREFIX = "builtin:"
# scikit-image ships these photographs with people inside the wheel (no download); the photographs of
# convlab.photos (cached by `make setup`) are built in too, as builtin:NAME.
BUILTINS = {"astronaut": "astronaut", "camera": "camera"}
MIN_SIDE = 8
MAX_PIXELS = 64_000_000

# Modes with one obvious 8-bit RGB reading (alpha is composited onto black, palettes looked up).
_CONVERTIBLE = {"RGB", "RGBA", "RGBX", "RGBa", "L", "LA", "La", "1", "CMYK", "YCbCr", "P", "PA"}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def builtin_names() -> list[str]:
    """Every built-in image: scikit-image's, then the photographs `make setup` caches (convlab.photos)."""
    from .. import photos
    return sorted(BUILTINS) + list(photos.PHOTOS)


def builtin_image(name: str) -> np.ndarray:
    from .. import photos
    if name in photos.PHOTOS:
        try:
            path = photos.path(name)
        except ConvlabError as e:
            raise ImageError(str(e)) from None
        return load_image(path)
    if name not in BUILTINS:
        raise ImageError(f"unknown built-in image {name!r}; known: {', '.join(builtin_names())}")
    try:
        import skimage.data
    except ImportError as e:
        raise ImageError("built-in images need scikit-image (pip install scikit-image)") from e
    return as_rgb_array(getattr(skimage.data, BUILTINS[name])(), f"{BUILTIN_PREFIX}{name}")


def as_rgb_array(a: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an in-memory image: uint8 HxW (grey) or HxWx3/4 (RGB/RGBA), returned as HxWx3."""
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ImageError(f"{what}: expected a uint8 array, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise ImageError(f"{what}: expected HxW or HxWx3 or HxWx4, got shape {a.shape}")
    if min(a.shape[:2]) < MIN_SIDE:
        raise ImageError(f"{what}: {a.shape[1]}x{a.shape[0]} is too small (each side must be >= {MIN_SIDE} px)")
    return np.ascontiguousarray(a)


def _to_rgb(im, what: str) -> np.ndarray:
    from PIL import Image
    if im.mode in _SIXTEEN_BIT:
        # Full 16-bit range to 8 bits; Pillow's own convert("L") would clip everything above 255 to white.
        grey = (np.asarray(im, dtype=np.uint16).astype(np.uint32) * 255 + 32767) // 65535
        return as_rgb_array(grey.astype(np.uint8), what)
    if im.mode not in _CONVERTIBLE:
        raise ImageError(f"{what}: pixel mode {im.mode!r} is not supported (no agreed 8-bit RGB meaning); "
                         "save it as 8-bit RGB, grey or palette")
    if im.mode == "P":
        im = im.convert("RGBA")  # honours palette transparency before the alpha is dropped
    if im.mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        # Transparent pixels become black rather than whatever colour they happened to store.
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(base, rgba)
    return as_rgb_array(np.asarray(im.convert("RGB")), what)


def load_image(source) -> np.ndarray:
    """An RGB uint8 HxWx3 array from a path, bytes, a numpy array, or "builtin:NAME".

    EXIF orientation is applied, so phone photos come out upright as their viewer shows them.
    """
    if isinstance(source, np.ndarray):
        return as_rgb_array(source)
    if isinstance(source, str) and source.startswith(BUILTIN_PREFIX):
        return builtin_image(source[len(BUILTIN_PREFIX):])
    from PIL import Image, ImageOps, UnidentifiedImageError
    if isinstance(source, (bytes, bytearray)):
        what, fp = "image bytes", io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        what, fp = os.fspath(source), os.fspath(source)
        if os.path.isdir(fp):
            raise ImageError(f"{what}: is a directory, not an image")
        if not os.path.exists(fp):
            raise ImageError(f"{what}: no such file")
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}")
    try:
        with Image.open(fp) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise ImageError(f"{what}: {im.size[0]}x{im.size[1]} exceeds {MAX_PIXELS} pixels")
            im.load()
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im, what)
    except ImageError:
        raise
    except PermissionError as e:
        raise ImageError(f"{what}: permission denied") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{what}: not an image file Pillow can read") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{what}: refused as a decompression bomb: {e}") from e
    except (OSError, SyntaxError, ValueError) as e:
        # Pillow reports truncated or damaged data as OSError/SyntaxError from load().
        raise ImageError(f"{what}: damaged or truncated image data ({e})") from e
