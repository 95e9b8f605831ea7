"""cffi API-mode build of convlab._native from every csrc/*.c.

The cdef is the concatenation of the `cffi:begin` ... `cffi:end` blocks of every
csrc/include/*.h, so a new algorithm (its .c file and its header) is picked up without editing
this file. Run by setup.py (cffi_modules) on `pip install -e .`; `python csrc/build_ffi.py`
builds in place for development.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import sys
import sysconfig

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)   # setup.py runs here; source paths are relative to it
INCLUDE = os.path.join(HERE, "include")
BLOCK = re.compile(r"/\* cffi:begin \*/(.*?)/\* cffi:end \*/", re.S)


def _require_compiler() -> None:
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        sys.exit(f"convlab: building the C kernels needs a C compiler, and {cc!r} was not found. "
                 "Install one (Debian: apt-get install gcc, or `make setup`) or set CC.")


def _cdef() -> str:
    parts = []
    for h in sorted(glob.glob(os.path.join(INCLUDE, "*.h"))):
        text = open(h).read()
        parts += [f"/* {os.path.basename(h)} */" + block for block in BLOCK.findall(text)]
    return "\n".join(parts)


def _openmp_flags() -> list[str]:
    # OpenMP is how `threads` is honoured; without it the kernels run single-threaded (same results).
    return [] if os.environ.get("CONVLAB_NO_OPENMP") else ["-fopenmp"]


def _headers() -> str:
    return "".join(f'#include "{os.path.basename(h)}"\n'
                   for h in sorted(glob.glob(os.path.join(INCLUDE, "*.h"))) if BLOCK.search(open(h).read()))


_require_compiler()
ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "convlab._native",
    _headers(),
    sources=sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(HERE, "*.c"))),
    include_dirs=[os.path.relpath(INCLUDE, ROOT)],
    extra_compile_args=["-std=c11", "-O3", "-fno-math-errno", *_openmp_flags()],
    extra_link_args=_openmp_flags(),
)

if __name__ == "__main__":
    os.chdir(ROOT)
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build"), verbose=False)
