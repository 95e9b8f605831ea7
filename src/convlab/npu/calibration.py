"""Pixel inputs for the toolkit: calibration sets and comparison inputs, as NCHW float32 .npy files.

Pixels are in [0, 255] and in the model's channel order; the toolkit applies mean / std itself
(they go into its config), so the same files serve the int8 calibration and the simulator runs.
The toolkit reads a calibration .npy as NCHW (its inference default is NHWC, which worker.py
overrides), so everything here is NCHW.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..zoo.calibrate import generated_images
from ..zoo.spec import InputSpec
from .errors import CalibrationError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")


def generated_pixels(n: int, inp: InputSpec, seed: int) -> np.ndarray:
    """n generated images (N, C, H, W) in the model's channel order (see zoo.calibrate)."""
    if n < 1:
        raise CalibrationError(f"need at least one calibration image, got {n}")
    if inp.channels != 3:
        raise CalibrationError(f"generated images are RGB; the model input has {inp.channels} channels "
                               "(give a folder of .npy calibration tensors instead)")
    images = generated_images(n, inp.height, inp.width, seed=seed)
    return images[:, ::-1].copy() if inp.channel_order == "BGR" else images


def _read(path: Path, inp: InputSpec) -> np.ndarray:
    expected = (inp.channels, inp.height, inp.width)
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path)
        except (OSError, ValueError) as e:
            raise CalibrationError(f"calibration file {path} is not a readable .npy: {e}") from None
        image = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
        if image.shape != expected:
            raise CalibrationError(f"calibration file {path} has shape {a.shape}; the model input {inp.name!r} "
                                   f"needs {(1,) + expected} NCHW pixels in {inp.channel_order} order")
        return image.astype(np.float32)
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB").resize((inp.width, inp.height), Image.BILINEAR), np.float32)
    except (OSError, UnidentifiedImageError) as e:
        raise CalibrationError(f"calibration image {path} cannot be read: {e}") from None
    if inp.channels != 3:
        raise CalibrationError(f"calibration image {path} is RGB; the model input has {inp.channels} channels")
    return chw_pixels(rgb, inp)


def chw_pixels(rgb: np.ndarray, inp: InputSpec) -> np.ndarray:
    """An HxWx3 RGB image (0..255) as the C, H, W float32 pixels the toolkit reads, in the model's channel order."""
    chw = np.asarray(rgb, np.float32).transpose(2, 0, 1)
    return np.ascontiguousarray(chw[::-1] if inp.channel_order == "BGR" else chw)


def folder_pixels(folder: str | Path, inp: InputSpec) -> np.ndarray:
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"calibration folder {folder} does not exist or is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + (".npy",))
    if not files:
        raise CalibrationError(f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) "
                               "or .npy tensors")
    return np.stack([_read(p, inp) for p in files])


def pixels(source: str | int | None, inp: InputSpec, default: int, seed: int) -> tuple[np.ndarray, dict]:
    """`--calib DIR|N` -> (pixels, description for the report)."""
    if source is None:
        source = default
    if isinstance(source, int) or str(source).isdigit():
        n = int(source)
        return generated_pixels(n, inp, seed), {"source": "generated", "images": n, "seed": seed}
    data = folder_pixels(source, inp)
    return data, {"source": str(Path(source).resolve()), "images": len(data)}


def write_npy(batch: np.ndarray, directory: Path, stem: str) -> list[str]:
    """One (1, C, H, W) file per image; returns their absolute paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate(batch):
        path = directory / f"{stem}_{k:04d}.npy"
        np.save(path, np.ascontiguousarray(image[None], dtype=np.float32))
        paths.append(str(path.resolve()))
    return paths


def write_dataset(batch: np.ndarray, directory: Path) -> Path:
    """The toolkit's dataset.txt: one calibration file per line."""
    listing = directory / "dataset.txt"
    listing.write_text("\n".join(write_npy(batch, directory, "calib")) + "\n")
    return listing
