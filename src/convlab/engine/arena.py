"""Activation memory planning: one buffer, each intermediate tensor at an offset, reused by liveness.

A tensor lives from the time it is written to the last time it is read (the executor defines the
clock). Two tensors whose lifetimes overlap must not overlap in memory; otherwise they may share
bytes. Placement is greedy
by size (largest first, each at the lowest offset that fits between the already-placed tensors it
coexists with) — the heuristic TFLite's arena uses, near-optimal on CNN chains.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALIGN = 64      # bytes; a cache line, and enough for any SIMD load the kernels use


@dataclass(frozen=True)
class Lifetime:
    size: int           # bytes
    first: int          # time it is written
    last: int           # last time it is read (inclusive)


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _aligned_empty(nfloats: int) -> np.ndarray:
    # Offsets are multiples of ALIGN, so every tensor is aligned when the base is (numpy gives 16):
    # what lets a kernel use aligned-only stores, such as the GEMM's cache-bypassing ones.
    raw = np.empty(nfloats + ALIGN // 4, np.float32)
    skip = -raw.ctypes.data % ALIGN // 4
    return raw[skip:skip + nfloats]


def place(lifetimes: dict[str, Lifetime]) -> tuple[dict[str, int], int]:
    """Offsets (bytes) for every tensor, and the arena size they need."""
    order = sorted(lifetimes, key=lambda k: (-lifetimes[k].size, lifetimes[k].first, k))
    offsets: dict[str, int] = {}
    peak = 0
    for name in order:
        t = lifetimes[name]
        busy = sorted((offsets[o], offsets[o] + _aligned(lifetimes[o].size)) for o in offsets
                      if lifetimes[o].first <= t.last and t.first <= lifetimes[o].last)
        at = 0
        for lo, hi in busy:
            if at + t.size <= lo:
                break
            at = max(at, hi)
        offsets[name] = at
        peak = max(peak, at + _aligned(t.size))
    return offsets, peak


class Arena:
    """The buffer and the float32 views of it that the executor writes into."""

    def __init__(self, lifetimes: dict[str, Lifetime], shapes: dict[str, tuple[int, ...]]):
        self.offsets, self.peak_bytes = place(lifetimes)
        self.total_bytes = sum(_aligned(t.size) for t in lifetimes.values())
        self.count = len(lifetimes)
        self.buffer = _aligned_empty(max(self.peak_bytes, ALIGN) // 4)
        self.views = {name: self.buffer[off // 4: off // 4 + int(np.prod(shapes[name], dtype=np.int64))]
                      .reshape(shapes[name]) for name, off in self.offsets.items()}

    def report(self) -> dict:
        return {"tensors": self.count, "peak_bytes": self.peak_bytes, "no_reuse_bytes": self.total_bytes,
                "saving": 1 - self.peak_bytes / self.total_bytes if self.total_bytes else 0.0}
