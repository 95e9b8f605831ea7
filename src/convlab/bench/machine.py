"""What a benchmark result was measured on: recorded with every result so it can be compared later.

The CPU model and ISA flags come from convlab.device; this adds library versions, the git revision
and the load at measurement time."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ..device import cpu_model, isa_flags
from ..kernels import c as c_kernels

LIBRARIES = ("numpy", "numba", "llvmlite", "onnxruntime", "ncnn", "torch")


def library_versions() -> dict[str, str | None]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def git_revision() -> str | None:
    """HEAD of the checkout convlab is imported from, with "+dirty" for uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine_info(threads: int | None = None) -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "isa": isa_flags(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "threads": threads,
        "load_average": load,        # a shared machine's noise indicator at measurement time
        "python": platform.python_version(),
        "os": platform.platform(),
        "versions": library_versions(),
        "git": git_revision(),
        # which C micro-kernels (and tiles) ran: the kernel table's row for the active instruction set
        "c_kernels": None if c_kernels.unavailable() else c_kernels.kernel_table(),
    }
