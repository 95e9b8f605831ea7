"""Budget verdicts, the blur measure and template comparison: small pure functions with known answers."""
import numpy as np
import pytest

from convlab.errors import ConvInputError
from convlab.face.blur import laplacian_variance
from convlab.face.budgets import verdicts
from convlab.face.compare import cosine, l2_distance, l2_normalise


def test_budgets_are_per_face():
    stages = {"load": 99.0, "detector": 30.0, "fitter": 20.0, "align": 4.0, "extractor": 990.0, "compare": 6.0}
    v = verdicts(stages, n_faces=2)
    assert v["detector+fitter"] == {"ms": 40.0, "limit_ms": 40.0, "pass": True}           # 30 + 20 / 2
    assert v["extraction+comparison"] == {"ms": 500.0, "limit_ms": 500.0, "pass": True}   # (4 + 990 + 6) / 2
    v = verdicts({**stages, "detector": 30.01}, n_faces=2)
    assert v["detector+fitter"]["pass"] is False
    assert "this host" in v["machine"] and "not the RK3568" in v["machine"]


def test_budgets_without_a_face():
    v = verdicts({"detector": 12.0, "fitter": 0.0}, n_faces=0)
    assert v["detector+fitter"]["ms"] == 12.0 and v["detector+fitter"]["pass"] is True
    assert v["extraction+comparison"] == {"ms": None, "limit_ms": 500.0, "pass": None}


def test_laplacian_variance():
    assert laplacian_variance(np.full((20, 20, 3), 77, np.uint8)) == 0.0
    # A one-pixel checkerboard of 0/1: the Laplacian is +-4 everywhere, so its variance is 16.
    board = (np.indices((10, 10)).sum(0) % 2).astype(np.float64)
    assert laplacian_variance(board) == pytest.approx(16.0)
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blurred = ((sharp.astype(np.float64) + np.roll(sharp, 1, 0) + np.roll(sharp, 1, 1)) / 3).astype(np.uint8)
    assert laplacian_variance(blurred) < laplacian_variance(sharp)


def test_template_comparison():
    a = l2_normalise([3.0, 4.0])
    np.testing.assert_allclose(a, [0.6, 0.8], rtol=1e-7)
    b = l2_normalise([-4.0, 3.0])
    assert cosine(a, a) == pytest.approx(1.0) and cosine(a, b) == pytest.approx(0.0, abs=1e-7)
    assert l2_distance(a, b) == pytest.approx(np.sqrt(2 - 2 * cosine(a, b)))
    assert cosine(a, -a) == pytest.approx(-1.0)
    for bad in ([0.0, 0.0], [], [np.nan, 1.0]):
        with pytest.raises(ConvInputError):
            l2_normalise(bad)
    with pytest.raises(ConvInputError, match="length"):
        cosine([1.0, 2.0], [1.0, 2.0, 3.0])
