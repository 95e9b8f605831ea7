"""The device id results are filed under: architecture, CPU model and best SIMD ISA, e.g.
`x86_64-amd-epyc-avx512` or `aarch64-cortex-a55-neon`.

Kept to what /proc/cpuinfo says so algo="auto" can find its table cheaply at first use; ARM
kernels do not name the core in cpuinfo, so its "CPU part" number is mapped to the core's name.
Two hosts with the same id are assumed to rank kernels alike; that is the point of the id.
"""
from __future__ import annotations

import functools
import os
import platform
import re

# ARM "CPU part" numbers of the cores this lab targets or meets (ARM's TRMs).
_ARM_PARTS = {"0xd03": "cortex-a53", "0xd04": "cortex-a35", "0xd05": "cortex-a55", "0xd07": "cortex-a57",
              "0xd08": "cortex-a72", "0xd09": "cortex-a73", "0xd0a": "cortex-a75", "0xd0b": "cortex-a76",
              "0xd0c": "neoverse-n1", "0xd40": "neoverse-v1", "0xd49": "neoverse-n2"}
_X86_ISA = (("avx512f", "avx512"), ("avx2", "avx2"), ("avx", "avx"), ("sse4_2", "sse4"))
_NOISE = re.compile(r"\(r\)|\(tm\)|\bprocessor\b|\bcpu\b|@.*$|\d+-core|\bwith\b.*$", re.I)


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def device_id_from(arch: str, fields: dict[str, str]) -> str:
    """fields: /proc/cpuinfo's first value per lower-cased key (convlab.bench.machine._cpuinfo)."""
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
    from ..errors import ConvlabError
    if not isinstance(value, str) or not _VALID_ID.fullmatch(value) or len(value) > 200:
        raise ConvlabError(f"{where}: device id {value!r} is not a valid name (letters, digits, '.', '_', '-'; "
                           "no leading dot, no '/'): it names a folder under results/")
    return value


@functools.lru_cache(maxsize=None)
def device_id() -> str:
    """This host's id; CONVLAB_DEVICE_ID overrides it (e.g. to read a board's table on a PC)."""
    if os.environ.get("CONVLAB_DEVICE_ID"):
        return check_device_id(os.environ["CONVLAB_DEVICE_ID"], "CONVLAB_DEVICE_ID")
    from ..bench.machine import _cpuinfo
    return device_id_from(platform.machine(), _cpuinfo() or {"model name": platform.processor() or "unknown-cpu"})
