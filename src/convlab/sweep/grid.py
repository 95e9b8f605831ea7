"""Sweep specs: parse a YAML/TOML file, validate every key, expand it into timing groups.

A *group* is one shape cell at one thread count; its *candidates* are every (op, algo, backend)
timed on it, interleaved, so machine drift hits them alike. A result row is one candidate of one
group; its key (`ROW_KEY`) is what --resume, --shard and merge reason about.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from .. import registry
from ..errors import ConvlabError, parse_error_text

OPS = ("conv", "depthwise", "dwsep")   # dwsep = kxk depthwise then 1x1 pointwise, timed as a pair
PEERS = ("onnxruntime", "ncnn", "torch")
PEER_ALGO = "peer"
# Columns that identify a row; everything else in a row is a measurement.
ROW_KEY = ("op", "k", "stride", "padding", "c_in", "c_out", "h", "w", "groups", "batch", "threads",
           "algo", "backend")

_TOP_KEYS = {"name", "description", "reference", "grid", "shapes", "zoo", "threads", "algos", "backends",
             "peers", "timing", "budget"}
_GRID_KEYS = {"op", "kernel", "stride", "padding", "channels", "c_in", "c_out", "size", "h", "w", "groups",
              "batch"}
_SHAPE_KEYS = {"op", "kernel", "stride", "padding", "c_in", "c_out", "h", "w", "groups", "batch"}
_TIMING_KEYS = {"warmup", "min_repeats", "target_rel_precision", "max_seconds"}
_BUDGET_KEYS = {"max_gflop"}


class SweepSpecError(ConvlabError):
    """A sweep spec file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Shape:
    """One conv shape (for dwsep: the depthwise kxk part; the pointwise part is 1x1 c_in -> c_out)."""
    op: str
    k: int
    stride: int
    padding: int
    c_in: int
    c_out: int
    h: int
    w: int
    groups: int
    batch: int

    def gflop(self) -> float:
        """Direct-convolution GFLOP per call (the yardstick for every algorithm)."""
        oh = (self.h + 2 * self.padding - self.k) // self.stride + 1
        ow = (self.w + 2 * self.padding - self.k) // self.stride + 1
        if oh < 1 or ow < 1:
            return 0.0
        if self.op == "dwsep":
            return 2e-9 * self.batch * oh * ow * self.c_in * (self.k * self.k + self.c_out)
        return 2e-9 * self.batch * oh * ow * self.c_out * (self.c_in // self.groups) * self.k * self.k

    def cell(self) -> tuple:
        """What all ops of one comparison share: the interleaving unit of the depthwise study."""
        return self.k, self.stride, self.padding, self.c_in, self.c_out, self.h, self.w, self.batch


@dataclass(frozen=True)
class Group:
    threads: int
    shapes: tuple[Shape, ...]

    def key(self) -> tuple:
        return self.shapes[0].cell() + (self.threads,)


@dataclass
class Timing:
    """convlab.bench.timing.time_interleaved's knobs for one group (all its candidates together)."""
    warmup: int = 2
    min_repeats: int = 5
    target_rel_precision: float = 0.05   # stop when every candidate's IQR/median is below this
    max_seconds: float = 0.5             # or after this many seconds per candidate in the group


@dataclass
class SweepSpec:
    name: str
    path: str
    description: str = ""
    reference: str | None = None
    shapes: list[Shape] = field(default_factory=list)
    zoo: bool = False
    threads: list[int] = field(default_factory=lambda: [1])
    algos: list[str] | str = "all"
    backends: list[str] = field(default_factory=lambda: [registry.default_backend()])   # the one default
    peers: list[str] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    max_gflop: float | None = None

    def fingerprint(self) -> str:
        """Hash of what decides the rows, so merge and --resume can refuse rows of a different sweep.
        Thread counts are left out: rows carry theirs, so one file can gain a thread count later."""
        d = dict(name=self.name, shapes=[asdict(s) for s in self.shapes], zoo=self.zoo, algos=self.algos,
                 backends=self.backends, peers=self.peers)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def wants(self, algo: str) -> bool:
        """"all" means every kernel but the float64 oracle, which only a spec naming it times."""
        return algo != "reference" if self.algos == "all" else algo in self.algos

    def validate(self) -> None:
        """What parse checks and a caller may have changed since (the CLI's --threads replaces threads):
        thread counts 1..1024, and every named algo a registered kernel of one of the backends (a typo
        used to give a complete, empty sweep)."""
        from .. import registry

        def fail(msg):
            raise SweepSpecError(f"sweep spec {self.path}: {msg}")
        for t in self.threads:
            if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= 1024:
                fail(f"threads must be integers from 1 to 1024, got {t!r}")
        unknown_b = [b for b in self.backends if b not in registry.backends()]
        if unknown_b:
            fail(f"unknown backend(s) {', '.join(unknown_b)}; known: {', '.join(registry.backends())}")
        if self.algos != "all":
            known = {e.algo for b in self.backends for e in registry.entries(b)}
            bad = [a for a in self.algos if a not in known]
            if bad:
                fail(f"unknown algo(s) {', '.join(map(repr, bad))} for backend(s) {', '.join(self.backends)}; "
                     f"known: {', '.join(sorted(known))}")

    def groups(self) -> list[Group]:
        """Deterministic order: shapes grouped by cell, cells in spec order, then threads."""
        cells: dict[tuple, list[Shape]] = {}
        for s in self.shapes:
            cells.setdefault(s.cell(), []).append(s)
        return [Group(t, tuple(ss)) for ss in cells.values() for t in self.threads]


def load(path: str | Path) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise SweepSpecError(f"sweep spec {path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise SweepSpecError(f"sweep spec {path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        raise SweepSpecError(f"sweep spec {path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {parse_error_text(e)}") from None
    return parse(raw, str(path))


def parse(raw, where: str = "<spec>") -> SweepSpec:
    def fail(msg):
        raise SweepSpecError(f"sweep spec {where}: {msg}")

    if not isinstance(raw, dict):
        fail(f"top level must be a mapping, got {type(raw).__name__}")
    _unknown(raw, _TOP_KEYS, "", fail)
    name = raw.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-." for c in name):
        fail(f"'name' must be a non-empty string of letters, digits, '_', '-', '.'; got {name!r}")
    spec = SweepSpec(name=name, path=where, description=str(raw.get("description", "")),
                     reference=raw.get("reference"), zoo=bool(raw.get("zoo", False)))
    if not any(k in raw for k in ("grid", "shapes", "zoo")):
        fail("needs at least one of 'grid' (a product of values), 'shapes' (a list) or 'zoo: true'")
    if "grid" in raw:
        spec.shapes += _expand_grid(raw["grid"], fail)
    for i, s in enumerate(_as_list(raw["shapes"], "shapes", fail) if "shapes" in raw else []):
        if not isinstance(s, dict):
            fail(f"shapes[{i}] must be a mapping, got {s!r}")
        _unknown(s, _SHAPE_KEYS, f"shapes[{i}].", fail)
        missing = {"kernel", "c_in", "c_out", "h", "w"} - set(s)
        if missing:
            fail(f"shapes[{i}] lacks {', '.join(sorted(missing))}")
        spec.shapes.append(_shape(s.get("op", "conv"), s["kernel"], s.get("stride", 1), s.get("padding", "same"),
                                  s["c_in"], s["c_out"], s["h"], s["w"], s.get("groups", 1), s.get("batch", 1),
                                  f"shapes[{i}]", fail))
    spec.threads = [_posint(t, "threads", fail) for t in _as_list(raw.get("threads", [1]), "threads", fail)]
    algos = raw.get("algos", "all")
    spec.algos = "all" if algos == "all" else [str(a) for a in _as_list(algos, "algos", fail)]
    backends = raw["backends"] if "backends" in raw else [registry.default_backend()]
    spec.backends = [str(b) for b in _as_list(backends, "backends", fail)]
    spec.peers = [str(p) for p in _as_list(raw.get("peers", []), "peers", fail, allow_empty=True)]
    for p in spec.peers:
        if p not in PEERS:
            fail(f"unknown peer {p!r}; known: {', '.join(PEERS)}")
    timing = raw.get("timing", {})
    if not isinstance(timing, dict):
        fail("'timing' must be a mapping")
    _unknown(timing, _TIMING_KEYS, "timing.", fail)
    for k, v in timing.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or v == float("inf") \
                or (k != "warmup" and v == 0):
            fail(f"timing.{k} must be a {'non-negative' if k == 'warmup' else 'positive'} number, got {v!r}")
        setattr(spec.timing, k, type(getattr(spec.timing, k))(v))
    budget = raw.get("budget", {})
    if not isinstance(budget, dict):
        fail("'budget' must be a mapping")
    _unknown(budget, _BUDGET_KEYS, "budget.", fail)
    if "max_gflop" in budget:
        v = budget["max_gflop"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
            fail(f"budget.max_gflop must be a positive number, got {v!r}")
        spec.max_gflop = float(v)
    if spec.zoo:
        from .zoo_shapes import zoo_shapes
        spec.shapes += [s for s in zoo_shapes() if s not in spec.shapes]
    if len(set(spec.shapes)) != len(spec.shapes):
        fail("the same shape appears twice")
    spec.validate()
    return spec


def _expand_grid(g, fail) -> list[Shape]:
    if not isinstance(g, dict):
        fail("'grid' must be a mapping")
    _unknown(g, _GRID_KEYS, "grid.", fail)
    for a, b in (("channels", "c_in"), ("channels", "c_out"), ("size", "h"), ("size", "w")):
        if a in g and b in g:
            fail(f"grid gives both '{a}' and '{b}'; '{a}' sets both {('c_in and c_out' if a == 'channels' else 'h and w')}")
    if "channels" not in g and not {"c_in", "c_out"} <= set(g):
        fail("grid needs 'channels' (C_in = C_out) or both 'c_in' and 'c_out'")
    if "size" not in g and not {"h", "w"} <= set(g):
        fail("grid needs 'size' (H = W) or both 'h' and 'w'")
    if "kernel" not in g:
        fail("grid needs 'kernel'")
    vals = {k: _as_list(g[k], f"grid.{k}", fail) for k in g}
    chans = [(c, c) for c in vals["channels"]] if "channels" in vals else list(itertools.product(vals["c_in"], vals["c_out"]))
    sizes = [(s, s) for s in vals["size"]] if "size" in vals else list(itertools.product(vals["h"], vals["w"]))
    out = []
    # Channels vary fastest within a size, like the seed tables (W H C rows).
    for (h, w), k, stride, pad, batch, (ci, co) in itertools.product(
            sizes, vals["kernel"], vals.get("stride", [1]), vals.get("padding", ["same"]), vals.get("batch", [1]), chans):
        for op in vals.get("op", ["conv"]):
            for groups in (vals.get("groups", [1]) if op == "conv" else [None]):
                out.append(_shape(op, k, stride, pad, ci, co, h, w, groups, batch, "grid", fail))
    return out


def _shape(op, k, stride, pad, ci, co, h, w, groups, batch, where, fail) -> Shape:
    if op not in OPS:
        fail(f"{where}: unknown op {op!r}; known: {', '.join(OPS)}")
    k, stride, ci, co, h, w, batch = (_posint(v, f"{where}.{n}", fail) for v, n in
                                      ((k, "kernel"), (stride, "stride"), (ci, "c_in"), (co, "c_out"), (h, "h"),
                                       (w, "w"), (batch, "batch")))
    if pad == "same":
        pad = k // 2
    elif isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        fail(f"{where}.padding must be 'same' or a non-negative int, got {pad!r}")
    if op == "depthwise":
        if ci != co:
            fail(f"{where}: op 'depthwise' needs c_in == c_out, got {ci} and {co}")
        groups = ci
    elif op == "dwsep":
        groups = ci
    elif groups == "depthwise":
        groups = ci
    groups = _posint(groups, f"{where}.groups", fail)
    if op == "conv" and (ci % groups or co % groups):
        fail(f"{where}: groups={groups} must divide c_in={ci} and c_out={co}")
    if h + 2 * pad < k or w + 2 * pad < k:
        fail(f"{where}: {h}x{w} input with padding {pad} is smaller than the {k}x{k} kernel")
    return Shape(op, k, stride, pad, ci, co, h, w, groups, batch)


def _posint(v, name, fail) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        fail(f"{name} must be a positive integer, got {v!r}")
    return v


def _as_list(v, name, fail, allow_empty=False) -> list:
    if isinstance(v, list):
        if not v and not allow_empty:
            fail(f"'{name}' is an empty list")
        return v
    if isinstance(v, (dict, set, tuple)):
        fail(f"'{name}' must be a value or a list of values, got {v!r}")
    return [v]


def _unknown(d: dict, known: set, prefix: str, fail) -> None:
    bad = sorted(set(d) - known)
    if bad:
        fail(f"unknown key{'s' if len(bad) > 1 else ''} {', '.join(prefix + b for b in bad)}; "
             f"known: {', '.join(sorted(known))}")
