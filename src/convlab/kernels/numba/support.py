"""What every Numba kernel needs besides its loops: thread control and the in-bounds part of a row."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit


_WORKQUEUE_LOCK = threading.Lock()
_layer: str | None = None


def _serialise() -> bool:
    """Whether parallel launches must be serialised: Numba's fallback `workqueue` threading layer
    (no OpenMP/TBB) aborts the process when two threads launch parallel kernels at once. Unknown
    until the first launch, so the first launches are serialised too."""
    global _layer
    if _layer is None:
        try:
            _layer = numba.threading_layer()
        except ValueError:      # no parallel kernel has run yet
            return True
    return _layer == "workqueue"


@contextmanager
def numba_threads(threads: int):
    """Run the enclosed prange loops on ``threads`` threads (capped at Numba's pool), then restore.

    Kernels parallelise over independent outputs only, so the count changes speed, never results.
    """
    serial = _serialise()
    if serial:
        _WORKQUEUE_LOCK.acquire()
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)
        if serial:
            _WORKQUEUE_LOCK.release()


@njit(inline="always", cache=True)
def tap_range(out_len, stride, offset, in_len):
    """Output positions o in [lo, hi) whose input index o * stride + offset lies inside [0, in_len).

    Padding is handled by skipping the out-of-range part instead of reading a padded copy.
    """
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    last = in_len - 1 - offset
    hi = 0 if last < 0 else min(out_len, last // stride + 1)
    return lo, max(lo, hi)


class Workspace:
    """Scratch arrays a plan keeps between calls, by name: allocating megabytes per call costs fresh
    page faults every time.

    The arrays are per calling thread (threading.local), so one plan called from several Python
    threads at once gives each call its own scratch and the right answer (a shared set gave max
    errors of 126 on outputs of 73, issue 16); each thread's set is freed when the thread ends.
    """

    def __init__(self):
        self._local = threading.local()

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        arrays = self._local.__dict__
        a = arrays.get(name)
        if a is None or a.shape != shape:
            a = arrays[name] = np.empty(shape, np.float32)
        return a
