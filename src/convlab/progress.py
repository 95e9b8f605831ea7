"""One progress style for every command that can run more than a few seconds: a tqdm bar on stderr
with the rate and ETA. Shown only when stderr is a terminal (so pipes, logs and --json output stay
clean) and CONVLAB_NO_PROGRESS is unset; `force=True` shows it anyway (tests)."""
from __future__ import annotations

import os
import sys

from tqdm import tqdm


def enabled() -> bool:
    if os.environ.get("CONVLAB_NO_PROGRESS"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def bar(iterable=None, *, total=None, desc: str | None = None, unit: str = "it", force: bool = False,
        enable: bool = True, **kw) -> tqdm:
    """tqdm(iterable) on stderr, cleared when done; disabled off a terminal."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False,
                disable=not enable or not (force or enabled()), **kw)
