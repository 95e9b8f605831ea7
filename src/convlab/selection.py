"""algo="auto": which kernel to use for a given conv shape.

First choice is this device's measured decision table (`results/<device-id>/decision.json`, made
by `convlab decide`): the measured winner when the exact shape was swept, else the rules learned
from the sweep. Without a table, the built-in rule -- a hand-written first guess from the LINE
DevDay 2019 sweeps (Winograd for 3x3 when channels and maps are mid-sized, GEMM otherwise) -- with
a one-time warning. Whatever is chosen must support the shape and be available, else the next
preference is tried, so a stale table can cost speed but never correctness.
"""
from __future__ import annotations

import functools
import json
import os
import warnings
from pathlib import Path

from . import registry
from .errors import ConvlabError, UnsupportedConvError
from .spec import ConvSpec

RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"
FEATURES = ("c_in", "c_out", "w", "h")


def builtin_rule(spec: ConvSpec, h: int, w: int, backend: str) -> list[str]:
    """Algorithms in order of preference; the first one the backend has and supports wins."""
    prefs = []
    if spec.is_depthwise and spec.groups > 1:
        prefs.append("depthwise")
    if spec.kernel_size == (3, 3) and spec.stride == (1, 1) and spec.dilation == (1, 1) and spec.groups == 1:
        if min(spec.c_in, spec.c_out) >= 16 and min(h, w) >= 8:
            # Larger tiles save more multiplies but waste more of the last tile row/column on
            # small maps: measured on Zen 4 (experiments/winograd_c), F(2,3) wins up to ~24,
            # F(4,3) up to ~48, F(6,3) beyond.
            side = min(h, w)
            order = ["winograd_f23", "winograd_f43", "winograd_f63"]
            first = 0 if side <= 24 else 1 if side <= 48 else 2
            prefs += sorted(order, key=lambda a: abs(order.index(a) - first))
    prefs += ["im2col", "direct"]
    return prefs


def family(k: int, stride: int, groups: int, c_in: int, c_out: int) -> str:
    """The slice of shapes one rule set covers: kernel, stride and kind of grouping."""
    kind = "" if groups == 1 else (" depthwise" if groups == c_in == c_out else f" g{groups}")
    return f"{k}x{k} s{stride}{kind}"


class DecisionTable:
    """A device's decision table (the JSON `convlab decide` writes), queried without scikit-learn."""

    def __init__(self, data: dict, source: str = "<table>"):
        self.data, self.source = data, source
        self.exact = {(e["k"], e["stride"], e["padding"], e["c_in"], e["c_out"], e["h"], e["w"], e["groups"],
                                e["backend"], e["threads"]): e["winner"] for e in data.get("entries", [])}
        self.rules = {(r["family"], r["backend"], r["threads"]): r["tree"] for r in data.get("rules", [])}

    @classmethod
    def load(cls, path: str | Path) -> "DecisionTable":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise ConvlabError(f"decision table {path}: cannot read it: {e}") from None
        if not isinstance(data, dict) or data.get("format") != "convlab-decision-table/1":
            raise ConvlabError(f"decision table {path}: not a convlab decision table (format mismatch)")
        from .sweep.decide import check_table
        check_table(data, str(path))
        return cls(data, str(path))

    def choose(self, spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1,
               exact: bool = True) -> tuple[str, str] | None:
        """(algo, how) with how "exact" or "rules", or None when the table does not cover the shape."""
        if spec.kh != spec.kw or spec.stride[0] != spec.stride[1] or spec.dilation != (1, 1):
            return None
        t, l, b, r = spec.padding
        if exact and t == l == b == r:
            hit = self.exact.get((spec.kh, spec.stride[0], t, spec.c_in, spec.c_out, h, w, spec.groups, backend,
                                  threads))
            if hit:
                return hit, "exact"
        fam = family(spec.kh, spec.stride[0], spec.groups, spec.c_in, spec.c_out)
        have = sorted((th for (f, be, th) in self.rules if f == fam and be == backend), key=lambda th: abs(th - threads))
        if not have:
            return None
        node = self.rules[(fam, backend, have[0])]
        x = dict(c_in=spec.c_in, c_out=spec.c_out, h=h, w=w)
        while "algo" not in node:
            node = node["left"] if x[node["feature"]] <= node["threshold"] else node["right"]
        return node["algo"], "rules"


_warned = False


@functools.lru_cache(maxsize=None)
def _table_at(path: str) -> DecisionTable | None:
    return DecisionTable.load(path) if os.path.isfile(path) else None


def table_path() -> Path:
    """CONVLAB_DECISION_TABLE names a table file; else this device's under results/."""
    if os.environ.get("CONVLAB_DECISION_TABLE"):
        return Path(os.environ["CONVLAB_DECISION_TABLE"])
    from .sweep.device import device_id
    return RESULTS_DIR / device_id() / "decision.json"


def current_table() -> DecisionTable | None:
    global _warned
    path = table_path()
    table = _table_at(str(path))
    if table is None and not _warned:
        _warned = True
        warnings.warn(f"algo='auto': no decision table for this device ({path}); using the built-in rule. "
                      "Make one with `convlab sweep` then `convlab decide`.", RuntimeWarning, stacklevel=4)
    return table


def preferences(spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1) -> list[str]:
    table = current_table()
    picked = table.choose(spec, h, w, backend, threads) if table else None
    return ([picked[0]] if picked else []) + builtin_rule(spec, h, w, backend)


def first_runnable(algos, spec: ConvSpec, backend: str) -> registry.KernelEntry | None:
    """The first of `algos` the backend has, supporting spec and available here."""
    for algo in algos:
        try:
            e = registry.get(algo, backend)
        except ValueError:
            continue
        if e.supports(spec) and e.unavailable() is None:
            return e
    return None


def choose_algo(spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1) -> str:
    e = first_runnable(preferences(spec, h, w, backend, threads), spec, backend)
    if e is not None:
        return e.algo
    for e in registry.entries(backend, available_only=True):
        if e.supports(spec) and e.algo != "reference":
            return e.algo
    raise UnsupportedConvError(f"auto/{backend}", "no kernel", f"no {backend} kernel supports {spec.describe()}")
