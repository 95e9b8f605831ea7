"""Ground floor: what machine this is and where the repository's data lives.

The device id results are filed under (architecture, CPU model and best SIMD ISA, e.g.
`x86_64-amd-epyc-avx512` or `aarch64-cortex-a55-neon`), the CPU model and ISA flags recorded with
every measurement, and the repository paths (`results/`, `results/reference/`). Kept to what
/proc/cpuinfo says so algo="auto" can find its table cheaply at first use; ARM kernels do not name
the core in cpuinfo, so its "CPU part" number is mapped to the core's name. Two hosts with the same
id are assumed to rank kernels alike; that is the point of the id.

Imports nothing of convlab: every other module may import it.
"""
from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path

from .errors import ConvlabError

# src/convlab/device.py -> the checkout (an installed wheel has no results/; paths then point nowhere)
REPO_ROOT = Path(__file__).resolve().parents[2]
# The shipped results (decision tables, baselines, the seed's figures; read-only inputs): package
# data in a wheel (copied by setup.py), the repository's results/ in a checkout. Users' own results
# go elsewhere (convlab.paths.user_results_dir).
_PACKAGED_RESULTS = Path(__file__).resolve().parent / "_data" / "results"
RESULTS_DIR = _PACKAGED_RESULTS if _PACKAGED_RESULTS.is_dir() else REPO_ROOT / "results"
REFERENCE_DIR = RESULTS_DIR / "reference"

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "neon", "asimd", "asimdhp", "asimddp", "sve")
# ARM "CPU part" numbers of the cores this lab targets or meets (ARM's TRMs).
_ARM_PARTS = {"0xd03": "cortex-a53", "0xd04": "cortex-a35", "0xd05": "cortex-a55", "0xd07": "cortex-a57",
              "0xd08": "cortex-a72", "0xd09": "cortex-a73", "0xd0a": "cortex-a75", "0xd0b": "cortex-a76",
              "0xd0c": "neoverse-n1", "0xd40": "neoverse-v1", "0xd49": "neoverse-n2"}
_X86_ISA = (("avx512f", "avx512"), ("avx2", "avx2"), ("avx", "avx"), ("sse4_2", "sse4"))
_NOISE = re.compile(r"\(r\)|\(tm\)|\bprocessor\b|\bcpu\b|@.*$|\d+-core|\bwith\b.*$", re.I)


def cpuinfo() -> dict[str, str]:
    """/proc/cpuinfo's first value per lower-cased key ({} where there is no /proc/cpuinfo)."""
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
    info = cpuinfo()
    for key in ("model name", "hardware", "cpu model", "processor"):
        if info.get(key) and not info[key].isdigit():
            return info[key]
    return platform.processor() or platform.machine()


def isa_flags() -> list[str]:
    info = cpuinfo()
    flags = set((info.get("flags") or info.get("features") or "").split())
    if platform.machine() in ("aarch64", "arm64"):
        flags.add("neon")            # Advanced SIMD is mandatory on AArch64 ("asimd" in cpuinfo)
    return [f for f in ISA_FLAGS if f in flags]


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def device_id_from(arch: str, fields: dict[str, str]) -> str:
    """fields: /proc/cpuinfo's first value per lower-cased key (`cpuinfo()`)."""
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    if arch in ("aarch64", "arm64", "armv7l"):
        model = _ARM_PARTS.get(fields.get("cpu part", "").lower(), "arm-" + fields.get("cpu part", "unknown"))
        isa = "sve" if "sve" in flags else ("neon" if flags & {"asimd", "neon"} else "")
    else:
        model = _NOISE.sub("", fields.get("model name", "unknown-cpu"))
        isa = next((name for flag, name in _X86_ISA if flag in flags), "")
    return "-".join(p for p in (arch.lower(), slug(model), isa) if p)


_VALID_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_device_id(value, where: str) -> str:
    """A device id becomes a directory under results/: letters, digits, '.', '_', '-', no leading dot,
    so '../../x' or '/abs/path' (from CONVLAB_DEVICE_ID or a sidecar) cannot write outside results/."""
    if not isinstance(value, str) or not _VALID_ID.fullmatch(value) or len(value) > 200:
        raise ConvlabError(f"{where}: device id {value!r} is not a valid name (letters, digits, '.', '_', '-'; "
                           "no leading dot, no '/'): it names a folder under results/")
    return value


@functools.lru_cache(maxsize=None)
def device_id() -> str:
    """This host's id; CONVLAB_DEVICE_ID overrides it (e.g. to read a board's table on a PC)."""
    if os.environ.get("CONVLAB_DEVICE_ID"):
        return check_device_id(os.environ["CONVLAB_DEVICE_ID"], "CONVLAB_DEVICE_ID")
    return device_id_from(platform.machine(), cpuinfo() or {"model name": platform.processor() or "unknown-cpu"})
