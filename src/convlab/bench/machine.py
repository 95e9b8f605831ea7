"""What a benchmark result was measured on: recorded with every result so it can be compared later."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = ("numpy", "numba", "llvmlite", "onnxruntime", "ncnn", "torch")
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "neon", "asimd", "asimdhp", "asimddp", "sve")


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key not in info:
            info[key] = value.strip()
    return info


def cpu_model() -> str:
    info = _cpuinfo()
    for key in ("model name", "hardware", "cpu model", "processor"):
        if info.get(key) and not info[key].isdigit():
            return info[key]
    return platform.processor() or platform.machine()


def isa_flags() -> list[str]:
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("features") or "").split())
    if platform.machine() in ("aarch64", "arm64"):
        flags.add("neon")            # Advanced SIMD is mandatory on AArch64 ("asimd" in cpuinfo)
    return [f for f in ISA_FLAGS if f in flags]


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
    }
