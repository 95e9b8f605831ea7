"""convlab.fpenv: FTZ/DAZ really change arithmetic, in this thread and in the C kernels' threads,
and the context manager restores the previous state."""
import platform

import numpy as np
import pytest

import convlab
from convlab import fpenv
from convlab.kernels.c import _ffi

pytestmark = pytest.mark.skipif(_ffi.unavailable() is not None, reason=str(_ffi.unavailable()))

TINY = np.float32(1e-39)    # subnormal (smallest normal float32 is ~1.18e-38)
X86 = platform.machine() in ("x86_64", "AMD64")


def test_default_is_ieee():
    assert fpenv.get() == fpenv.FPEnv(False, False)


def test_context_manager_sets_and_restores():
    with fpenv.flush_denormals() as env:
        assert env == fpenv.FPEnv(True, True)
        assert fpenv.get() == env
    assert fpenv.get() == fpenv.FPEnv(False, False)


def test_restores_on_error_and_when_nested():
    with pytest.raises(RuntimeError):
        with fpenv.flush_denormals():
            with fpenv.flush_denormals(ftz=True, daz=False):
                raise RuntimeError("boom")
    assert fpenv.get() == fpenv.FPEnv(False, False)


@pytest.mark.skipif(not X86, reason="FTZ and DAZ are separate controls only on x86")
def test_ftz_and_daz_are_separate_on_x86():
    with fpenv.flush_denormals(ftz=True, daz=False):
        assert fpenv.get() == fpenv.FPEnv(True, False)
    with fpenv.flush_denormals(ftz=False, daz=True):
        assert fpenv.get() == fpenv.FPEnv(False, True)


@pytest.mark.parametrize("threads", [1, 2])
def test_c_kernel_flushes_subnormals_only_inside(threads):
    # 1x1 conv with weight 1: y = x. A subnormal passes through unless DAZ reads it as zero.
    x = np.full((1, 1, 8, 64), TINY, np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    run = lambda: convlab.conv2d(x, w, algo="im2col", backend="c", threads=threads)  # noqa: E731
    assert (run() == TINY).all()
    with fpenv.flush_denormals():
        assert (run() == 0).all()
    assert (run() == TINY).all()


def test_numpy_in_this_thread_sees_it():
    a = np.array([TINY], np.float32)
    with fpenv.flush_denormals():
        assert (a * np.float32(1.0))[0] == 0
    assert (a * np.float32(1.0))[0] == TINY
