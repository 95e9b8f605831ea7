"""Subnormal handling of the floating-point environment: flush-to-zero and denormals-are-zero.

x86: MXCSR.FTZ (subnormal results become 0) and MXCSR.DAZ (subnormal inputs read as 0), set
independently. aarch64: FPCR.FZ does both at once, so asking for either sets it, and `get()`
reports both. The environment is per thread: `set` changes the calling thread and the OpenMP
threads the C kernels run on (see csrc/fpenv.c); NumPy code in the calling thread is affected too.

    with convlab.fpenv.flush_denormals():
        y = convlab.conv2d(x, w, backend="c")     # subnormals flushed
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

from .errors import ConvlabError


@dataclass(frozen=True)
class FPEnv:
    ftz: bool
    daz: bool


def _lib():
    from .kernels import c
    reason = c.unavailable()
    if reason:
        raise ConvlabError(f"the floating-point environment is controlled through the C extension: {reason}")
    return c.lib


def get() -> FPEnv:
    lib = _lib()
    f = lib.cl_fpenv_get()
    return FPEnv(bool(f & lib.CL_FP_FTZ), bool(f & lib.CL_FP_DAZ))


def set(ftz: bool, daz: bool) -> FPEnv:  # noqa: A001 (module-level verb, like os.environ's API)
    """Sets both controls; returns the previous state."""
    lib = _lib()
    old = lib.cl_fpenv_set((lib.CL_FP_FTZ if ftz else 0) | (lib.CL_FP_DAZ if daz else 0))
    return FPEnv(bool(old & lib.CL_FP_FTZ), bool(old & lib.CL_FP_DAZ))


@contextlib.contextmanager
def flush_denormals(ftz: bool = True, daz: bool = True):
    """Context manager: the given controls inside, the previous state restored on exit (also on error)."""
    old = set(ftz, daz)
    try:
        yield get()
    finally:
        set(old.ftz, old.daz)
