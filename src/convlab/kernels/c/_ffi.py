"""Loads convlab._native (the cffi extension built from csrc/) and the helpers every C kernel wrapper shares."""
from __future__ import annotations

import numpy as np

from ...errors import ConvlabError

try:
    from ..._native import ffi, lib
    _REASON = None
except ImportError as e:  # not built: no compiler at install time, or a source checkout never installed
    ffi = lib = None
    _REASON = (f"the C extension convlab._native is not built ({e}); "
               "run `make setup` (pip install -e .) with a C compiler installed")


def unavailable() -> str | None:
    return _REASON


def check(rc: int, what: str) -> None:
    """C entry points return CL_OK / CL_EINVAL / CL_ENOMEM; turn the failures into exceptions."""
    if rc == lib.CL_OK:
        return
    if rc == lib.CL_ENOMEM:
        raise MemoryError(f"{what}: out of memory in the C kernel")
    raise ConvlabError(f"{what}: the C kernel rejected its arguments (code {rc}); this is a convlab bug, "
                       "the Python side should have caught it")


def fptr(a: np.ndarray | None):
    """float* to a C-contiguous float32 array (NULL for None). The caller keeps `a` alive."""
    if a is None:
        return ffi.NULL
    assert a.dtype == np.float32 and a.flags.c_contiguous
    return ffi.from_buffer("float[]", a)   # ~1 us; ffi.cast of a.ctypes.data costs ~6 us per call


def fptr_out(a: np.ndarray):
    """float* to an output array the C kernel writes: refused unless writable (a read-only buffer
    was written through: a segfault, or a silently modified bytes object). The conv API checks
    this first with a clearer message; this is the last line before C."""
    assert a.dtype == np.float32 and a.flags.c_contiguous
    try:
        return ffi.from_buffer("float[]", a, require_writable=True)
    except (TypeError, BufferError, ValueError):
        from ...errors import ConvInputError
        raise ConvInputError("out is read-only: the C kernels need a writable output array") from None


class Epilogue:
    """A cl_epilogue for one conv layer, holding the bias and slope arrays it points into."""

    def __init__(self, spec, b: np.ndarray | None):
        self.bias = None if b is None else np.ascontiguousarray(b, np.float32)
        self.slope = np.ascontiguousarray(spec.activation.slopes_for(spec.c_out))
        self.c = ffi.new("cl_epilogue *", {"bias": fptr(self.bias), "slope": fptr(self.slope),
                                           "act": spec.activation.code})


def isa_names() -> list[str]:
    """The instruction sets this CPU can run the C kernels with (tests force each in turn)."""
    return [ffi.string(lib.cl_isa_name(i)).decode() for i in range(4) if lib.cl_isa_supported(i)]


def isa() -> str:
    return ffi.string(lib.cl_isa_name(lib.cl_isa())).decode()


ISA_CODES = {"scalar": 0, "avx2": 1, "avx512": 2, "neon": 3}
GEMM_OPS = ("gemm", "gemm_wide", "gemm_narrow")   # cl_gemm picks one of its tiles per call


def _isa_code(name: str) -> int:
    if name not in isa_names():
        raise ConvlabError(f"instruction set {name!r} is not available here; have: {', '.join(isa_names())}")
    return ISA_CODES[name]


def set_isa(name: str | None) -> None:
    """Force an instruction set (None: back to the cpuid choice). Not thread-safe: for tests and studies."""
    check(lib.cl_set_isa(-1 if name is None else _isa_code(name)), "cl_set_isa")


def kernel_table(isa_name: str | None = None) -> list[dict]:
    """The C kernel table's row for an instruction set (default: the active one), one dict per op:
    {"op", "isa", "tile"}. csrc/include/cl_kernels.h: every per-ISA kernel, switched together by set_isa."""
    name = isa() if isa_name is None else isa_name
    code = _isa_code(name)
    op, tile, rows = ffi.new("const char **"), ffi.new("char[]", 128), []
    while lib.cl_kernel_row(code, len(rows), op, tile, len(tile)):
        rows.append({"op": ffi.string(op[0]).decode(), "isa": name, "tile": ffi.string(tile).decode()})
    return rows


def conv_shape(spec, x_shape):
    """The cl_conv_shape C checks again (cl_conv_shape_check) for an input of x_shape."""
    n, c, h, w = x_shape
    oh, ow = spec.output_hw(h, w)
    t, l, b, r = spec.padding
    return ffi.new("cl_conv_shape *", dict(
        n=n, c_in=c, h=h, w=w, c_out=spec.c_out, kh=spec.kh, kw=spec.kw, groups=spec.groups,
        sh=spec.stride[0], sw=spec.stride[1], dh=spec.dilation[0], dw=spec.dilation[1],
        pt=t, pl=l, pb=b, pr=r, oh=oh, ow=ow))


class ShapeCache:
    """cl_conv_shape per input shape: a plan runs on the same shape again and again."""

    def __init__(self, spec):
        self.spec, self._cache = spec, {}

    def __call__(self, x_shape):
        s = self._cache.get(x_shape)
        if s is None:
            s = self._cache[x_shape] = conv_shape(self.spec, x_shape)
        return s


def weights_as_is(c_function: str, name: str):
    """prepare() of a kernel whose C entry point takes the OIHW weights as they are:
    lib.<c_function>(shape, x, w, y, epilogue, threads)."""
    def prepare(spec, w, b, threads):
        fn = getattr(lib, c_function)
        w = np.ascontiguousarray(w, np.float32)
        ep, shapes, wp = Epilogue(spec, b), ShapeCache(spec), fptr(w)

        def run(x, out):
            check(fn(shapes(x.shape), fptr(x), wp, fptr_out(out), ep.c, threads), name)
        run.keepalive = (w, ep)   # wp and ep.c point into these
        return run
    return prepare
