"""Image loading: what converts, what is refused, and that every refusal names the problem."""
import io

import numpy as np
import pytest
from PIL import Image

from convlab.face.errors import ImageError
from convlab.face.image import load_image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


RGB = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)


def test_png_roundtrip_and_path(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(RGB).save(p)
    np.testing.assert_array_equal(load_image(p), RGB)
    np.testing.assert_array_equal(load_image(str(p)), RGB)


def test_builtin_photographs():
    a = load_image("builtin:astronaut")
    assert a.shape == (512, 512, 3) and a.dtype == np.uint8
    c = load_image("builtin:camera")                 # greyscale -> three equal channels
    assert c.shape == (512, 512, 3) and (c[..., 0] == c[..., 2]).all()
    with pytest.raises(ImageError, match="unknown built-in image 'nope'"):
        load_image("builtin:nope")


@pytest.mark.parametrize("mode", ["L", "1", "CMYK", "YCbCr", "RGBA", "LA"])
def test_sensible_modes_convert(mode):
    im = Image.fromarray(RGB).convert(mode)
    out = load_image(encode(im, "TIFF" if mode in ("CMYK", "YCbCr") else "PNG"))
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8


def test_jpeg_cmyk_converts_to_rgb_of_the_same_colour():
    im = Image.new("RGB", (16, 16), (200, 40, 40)).convert("CMYK")
    out = load_image(encode(im, "JPEG", quality=95))
    assert np.abs(out.astype(int) - [200, 40, 40]).max() < 12


def test_palette_with_transparency_becomes_black_not_the_stored_colour():
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    im.info["transparency"] = 1
    out = load_image(encode(im, "PNG", transparency=1))
    assert not out.any()


def test_sixteen_bit_grey_is_scaled_not_clipped():
    a = np.array([[0, 257 * 100, 65535, 32768]] * 8 * 2, np.uint16).reshape(8, 8)
    out = load_image(encode(Image.fromarray(a), "PNG"))
    assert out[0, :4, 0].tolist() == [0, 100, 255, 128]


@pytest.mark.parametrize("mode, dtype", [("I", np.int32), ("F", np.float32)])
def test_modes_without_a_range_are_refused(mode, dtype):
    im = Image.fromarray(np.ones((10, 10), dtype))
    assert im.mode == mode
    with pytest.raises(ImageError, match=f"pixel mode '{mode}' is not supported"):
        load_image(encode(im, "TIFF"))


def test_truncated_files_are_reported(tmp_path):
    for fmt in ("PNG", "JPEG"):
        data = encode(Image.fromarray(RGB), fmt)
        with pytest.raises(ImageError, match="damaged or truncated"):
            load_image(data[: len(data) // 2])


def test_unreadable_inputs_are_reported(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    (tmp_path / "x.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="not an image file"):
        load_image(tmp_path / "x.png")
    with pytest.raises(ImageError, match="too small"):
        load_image(encode(Image.new("RGB", (4, 30)), "PNG"))
    with pytest.raises(ImageError, match="uint8"):
        load_image(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((10, 10, 2), np.uint8))


def test_exif_orientation_is_applied():
    im = Image.fromarray(RGB)
    exif = Image.Exif()
    exif[0x0112] = 6                                   # "rotate 90 CW to view"
    out = load_image(encode(im, "JPEG", exif=exif, quality=100))
    assert out.shape == (32, 24, 3)
