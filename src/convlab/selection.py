"""algo="auto": which kernel to use for a given conv shape.

First choice is a measured decision table (made by `convlab decide`): the measured winner when the
exact shape was swept, else the rules learned from the sweep -- but only inside the ranges of
C_in, C_out, H and W the rules were learned on; outside them, the winner of the nearest measured
shape of the same family (no extrapolation). Winograd is never picked for a map smaller than
8x8 by anything but an exact measurement (its tiles would be mostly padding).

Which table: `--decision-table FILE` on the command line (set_table_path), else the file
`CONVLAB_DECISION_TABLE` names, else the one shipped for this device
(`results/<device-id>/decision.json` of the package data; convlab.paths). Without a table, the built-in rule -- a hand-written first guess from the LINE
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

from .paths import DECISION_TABLE_ENV, shipped_decision_table
FEATURES = ("c_in", "c_out", "w", "h")
# Below this map side Winograd's tiles are mostly padding (the zoo detector's 4x5 head: F(2,3)
# 0.107 ms vs im2col 0.015 ms); only an exact measurement may pick it there -- and for the C backend
# not one the shipped table made: it timed im2col before its small-map gather packing (256->12 3x3
# at 4x5: im2col 132 -> 62-67 us, F(2,3) 74-94; 64->64 at 4x4: 41 vs 65), so its Winograd picks
# there are stale.
MIN_WINOGRAD_SIDE = 8
# Which C kernels a table measured: `convlab decide` stamps it (`c_kernels`). Bumped when a kernel
# change makes older tables' picks on maps below MIN_WINOGRAD_SIDE stale; only a table with the
# current stamp may send such a map to Winograd, by an exact measurement. 2: Winograd multiplies
# small maps' tiles row-major, without padding them to whole GEMM panels (64->64 F(2,3) at 10x10:
# 30 -> 20 us), so a table tuned here now finds it winning where the shipped one found im2col.
C_KERNELS_REVISION = 2
# A network's first layer (3 input channels): the stem kernel, which no decision table made before it
# existed could pick (3 -> 32 3x3 s2 on 224x224: stem 0.36 ms, im2col 0.63, onnxruntime 0.55).
STEM_MAX_C_IN = 4


def builtin_rule(spec: ConvSpec, h: int, w: int, backend: str) -> list[str]:
    """Algorithms in order of preference; the first one the backend has and supports wins."""
    prefs = []
    if spec.is_depthwise and spec.groups > 1:
        prefs.append("depthwise")
    if spec.groups == 1 and spec.c_in <= STEM_MAX_C_IN and spec.kh * spec.kw > 1:
        prefs.append("stem")
    if spec.kernel_size == (3, 3) and spec.stride == (1, 1) and spec.dilation == (1, 1) and spec.groups == 1:
        if min(spec.c_in, spec.c_out) >= 16 and min(h, w) >= MIN_WINOGRAD_SIDE:
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


def check_table(data, where: str) -> None:
    """The structure `build` writes, checked when a table is loaded: a table with the right format
    tag and a wrong structure raised KeyError/TypeError inside every algo="auto" (issue 16)."""
    def fail(msg):
        raise ConvlabError(f"decision table {where}: {msg}; rebuild it with `convlab decide`")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)
    for key in ("entries", "rules"):
        if not isinstance(data.get(key, []), list):
            fail(f"'{key}' must be a list")
    for i, e in enumerate(data.get("entries", [])):
        if not isinstance(e, dict):
            fail(f"entries[{i}] is not an object")
        for k in ("k", "stride", "padding", "c_in", "c_out", "h", "w", "groups", "threads"):
            if not is_int(e.get(k)):
                fail(f"entries[{i}].{k} must be an integer, got {e.get(k)!r}")
        for k in ("backend", "winner"):
            if not isinstance(e.get(k), str):
                fail(f"entries[{i}].{k} must be a string, got {e.get(k)!r}")

    def check_tree(node, where_, depth=0):
        if depth > 64 or not isinstance(node, dict):
            fail(f"{where_} is not a tree node")
        if "algo" in node:
            if not isinstance(node["algo"], str):
                fail(f"{where_}.algo must be a string")
            return
        if node.get("feature") not in FEATURES or isinstance(node.get("threshold"), bool) \
                or not isinstance(node.get("threshold"), (int, float)):
            fail(f"{where_} needs 'algo', or 'feature' (one of {', '.join(FEATURES)}) and a numeric 'threshold'")
        check_tree(node.get("left"), where_ + ".left", depth + 1)
        check_tree(node.get("right"), where_ + ".right", depth + 1)
    for i, r in enumerate(data.get("rules", [])):
        if not isinstance(r, dict) or not isinstance(r.get("family"), str) or not isinstance(r.get("backend"), str) \
                or not is_int(r.get("threads")):
            fail(f"rules[{i}] needs a string family and backend and an integer threads")
        check_tree(r.get("tree"), f"rules[{i}].tree")



class DecisionTable:
    """A device's decision table (the JSON `convlab decide` writes), queried without scikit-learn."""

    def __init__(self, data: dict, source: str = "<table>"):
        self.data, self.source = data, source
        self.exact = {(e["k"], e["stride"], e["padding"], e["c_in"], e["c_out"], e["h"], e["w"], e["groups"],
                                e["backend"], e["threads"]): e["winner"] for e in data.get("entries", [])}
        self.rules = {(r["family"], r["backend"], r["threads"]): r["tree"] for r in data.get("rules", [])}
        # The shape ranges each rule set was learned on (tables made before ranges were recorded: unbounded).
        self.ranges = {(r["family"], r["backend"], r["threads"]): r.get("ranges") for r in data.get("rules", [])}
        self.measured: dict[tuple, list[tuple]] = {}
        for e in data.get("entries", []):
            if e.get("k") is None:
                continue
            fam = family(e["k"], e["stride"], e["groups"], e["c_in"], e["c_out"])
            self.measured.setdefault((fam, e["backend"], e["threads"]), []).append(
                (e["c_in"], e["c_out"], e["h"], e["w"], e["winner"], e.get("times_ms") or {}))

    @classmethod
    def load(cls, path: str | Path) -> "DecisionTable":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise ConvlabError(f"decision table {path}: cannot read it: {e}") from None
        if not isinstance(data, dict) or data.get("format") != "convlab-decision-table/1":
            raise ConvlabError(f"decision table {path}: not a convlab decision table (format mismatch)")
        check_table(data, str(path))
        return cls(data, str(path))

    def choose(self, spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1,
               exact: bool = True) -> tuple[str, str] | None:
        """(algo, how) with how "exact", "rules" or "neighbour" (outside the rules' learned ranges: the
        nearest measured shape's winner), or None when the table does not cover the shape."""
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
        key = (fam, backend, have[0])
        x = dict(c_in=spec.c_in, c_out=spec.c_out, h=h, w=w)
        ranges = self.ranges.get(key)
        if not ranges or all(lo <= x[f] <= hi for f, (lo, hi) in ranges.items() if f in x):
            node = self.rules[key]
            while "algo" not in node:
                node = node["left"] if x[node["feature"]] <= node["threshold"] else node["right"]
            if not (node["algo"].startswith("winograd") and min(h, w) < MIN_WINOGRAD_SIDE):
                return node["algo"], "rules"
        return self.nearest(key, x, min(h, w))

    def nearest(self, key: tuple, x: dict, side: int) -> tuple[str, str] | None:
        """The winner of the measured shape nearest to x (log scale over C_in, C_out, H, W); on a map
        too small for Winograd, the fastest non-Winograd kernel measured there."""
        import math
        shapes = self.measured.get(key)
        if not shapes:
            return None
        def dist(s):
            return sum(math.log2(max(a, 1) / max(b, 1)) ** 2
                       for a, b in zip(s[:4], (x["c_in"], x["c_out"], x["h"], x["w"])))
        best = min(shapes, key=dist)
        algo = best[4]
        if algo.startswith("winograd") and side < MIN_WINOGRAD_SIDE:
            others = {a: t for a, t in best[5].items() if not a.startswith("winograd")}
            if not others:
                return None
            algo = min(others, key=others.get)
        return algo, "neighbour"


_warned = False


@functools.lru_cache(maxsize=None)
def _table_at(path: str) -> DecisionTable | None:
    return DecisionTable.load(path) if os.path.isfile(path) else None


_explicit: Path | None = None


def set_table_path(path: str | Path | None) -> None:
    """Use this decision table from now on (the CLI's --decision-table); None: back to the default.
    The file must exist and be a decision table."""
    global _explicit
    if path is not None:
        if not os.path.isfile(path):
            raise ConvlabError(f"decision table {path}: no such file")
        DecisionTable.load(path)
    _explicit = None if path is None else Path(path)


def table_path() -> Path:
    """set_table_path()'s (--decision-table), else the file CONVLAB_DECISION_TABLE names, else the
    shipped table of this device."""
    if _explicit is not None:
        return _explicit
    if os.environ.get(DECISION_TABLE_ENV):
        return Path(os.environ[DECISION_TABLE_ENV])
    return shipped_decision_table()


def current_table() -> DecisionTable | None:
    global _warned
    path = table_path()
    table = _table_at(str(path))
    if table is None and not _warned:
        _warned = True
        warnings.warn(f"algo='auto': no decision table for this device ({path}); using the built-in rule. "
                      "Make one with `convlab sweep` then `convlab decide`, and point --decision-table or "
                      f"{DECISION_TABLE_ENV} at it.", RuntimeWarning, stacklevel=4)
    return table


def preferences(spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1) -> list[str]:
    return explain(spec, h, w, backend, threads)[0]


def explain(spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1) -> tuple[list[str], str]:
    """(algorithms in order of preference, where the first came from: "exact", "rules", "neighbour"
    -- of the decision table -- or "builtin")."""
    table = current_table()
    picked = table.choose(spec, h, w, backend, threads) if table else None
    if picked and picked[0] != "stem" and spec.groups == 1 and spec.c_in <= STEM_MAX_C_IN and spec.kh * spec.kw > 1:
        picked = None   # the table predates the stem kernel: its stem shapes were measured without it
    if picked and backend == "c" and picked[0].startswith("winograd") and min(h, w) < MIN_WINOGRAD_SIDE \
            and table.data.get("c_kernels") != C_KERNELS_REVISION:
        picked = None   # measured on older kernels (see MIN_WINOGRAD_SIDE, C_KERNELS_REVISION)
    return ([picked[0]] if picked else []) + builtin_rule(spec, h, w, backend), picked[1] if picked else "builtin"


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
    return choose_algo_explained(spec, h, w, backend, threads)[0]


def choose_algo_explained(spec: ConvSpec, h: int, w: int, backend: str, threads: int = 1) -> tuple[str, str]:
    """(algo, where the choice came from: "exact", "rules", "neighbour" or "builtin"). A table's pick
    that cannot run here falls to the built-in preferences, and says so."""
    prefs, how = explain(spec, h, w, backend, threads)
    e = first_runnable(prefs, spec, backend)
    if e is not None:
        return e.algo, how if e.algo == prefs[0] else "builtin"
    for e in registry.entries(backend, available_only=True):
        if e.supports(spec) and e.algo != "reference":
            return e.algo, "builtin"
    raise UnsupportedConvError(f"auto/{backend}", "no kernel", f"no {backend} kernel supports {spec.describe()}")
