"""What a computation needs against what this machine has available, checked before allocating.

MemAvailable from /proc/meminfo (Linux) is cheap to read; where it is missing nothing is refused.
A refused request raises the caller's ConvlabError subclass with both figures, instead of the
kernel's OOM killer ending the process.
"""
from __future__ import annotations

from .errors import ConvlabError


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes; None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def ensure_fits(need: int, context: str, *, error=ConvlabError, what: str = "memory") -> None:
    """Raise ``error`` when ``need`` bytes exceed what this machine has available now."""
    have = available_bytes()
    if have is not None and need > have:
        raise error(f"{context} needs {gb(need)} of {what}, this machine has {gb(have)} available "
                    f"(MemAvailable in /proc/meminfo)")
