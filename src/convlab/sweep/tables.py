"""Seed-style tables from results: one row per shape (W H C), one latency column per kernel, the
speedup of the fastest over direct, and -- where the sweep reproduces a seed study -- the seed's own
direct/X ratio per device beside ours (ratios, because the seed's hardware differs).
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from ..device import REFERENCE_DIR
from .grid import PEER_ALGO, PEERS

from ..paths import reference_dir

REFERENCE_DIR = reference_dir()      # the seed's figures: shipped data (package data in a wheel)
# The seed's "X" column -> (the op of our table it compares with, our columns it corresponds to)
SEED_ALGO = {"winograd": ("conv", ("winograd",)), "gemm": ("conv", ("im2col",)),
             "depthwise": (("depthwise", "dwsep"), ())}


def column(r: dict, multi_backend: bool) -> str:
    if r["algo"] == PEER_ALGO:
        return r["backend"]
    return f"{r['algo']}/{r['backend']}" if multi_backend else r["algo"]


def cells(rows: list[dict]) -> dict[tuple, dict[tuple, dict[str, float]]]:
    """(threads, k, stride, op) -> (w, h, c_in, c_out) -> {column: median ms}, ok rows only.

    Kernels get their backend in the column name when the results hold several backends."""
    multi = len({r["backend"] for r in rows if r["algo"] != PEER_ALGO}) > 1
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["status"] == "ok":
            out[(r["threads"], r["k"], r["stride"], r["op"])][(r["w"], r["h"], r["c_in"], r["c_out"])][column(r, multi)] = \
                r["median_ms"]
    return out


def _fastest(t: dict, prefix: str = "") -> float | None:
    return min((v for c, v in t.items() if c not in PEERS and c.startswith(prefix)), default=None)


def read_reference(name: str | None, ref_dir: Path = REFERENCE_DIR) -> tuple[str, dict] | None:
    """(X, {(device, w, h, c): (direct_ms, x_ms)}) for a seed CSV, or None when there is none."""
    if not name or not (ref_dir / f"{name}.csv").is_file():
        return None
    with open(ref_dir / f"{name}.csv", newline="") as f:
        rd = csv.DictReader(f)
        x = next(c[:-3] for c in rd.fieldnames if c.endswith("_ms") and c != "direct_ms")
        data = {(r["device"], int(r["width"]), int(r["height"]), int(r["channels"])):
                (float(r["direct_ms"]), float(r[f"{x}_ms"])) for r in rd}
    return x, data


def tables(rows: list[dict], reference: str | None = None, ref_dir: Path = REFERENCE_DIR) -> list[tuple[str, list, list]]:
    """[(title, headers, body)] per thread count, kernel size and op."""
    ref = read_reference(reference, ref_dir)
    all_cells = cells(rows)
    out = []
    for (threads, k, stride, op), shapes in sorted(all_cells.items()):
        conv = all_cells.get((threads, k, stride, "conv"), {}) if op != "conv" else {}
        cols = sorted({c for t in shapes.values() for c in t}, key=lambda c: (c in PEERS, not c.startswith("direct"), c))
        peers = [c for c in cols if c in PEERS]
        seed_op, ours = SEED_ALGO.get(ref[0], (None, ())) if ref else (None, ())
        seeded = ref is not None and op in (seed_op if isinstance(seed_op, tuple) else (seed_op,))
        ours = [x for x in ours if any(c.startswith(x) for c in cols)] if seeded else []
        devices = sorted({d for d, *_ in ref[1]}) if seeded else []
        headers = ["W", "H", "C"] + [f"{c} ms" for c in cols] + ["fastest kernel", "direct / fastest"]
        headers += ["conv direct / fastest", "conv fastest / fastest"] * bool(conv) + [f"{p} / fastest" for p in peers]
        headers += [f"direct / {x}" for x in ours] + [f"seed {d} direct/{ref[0]}" for d in devices]
        body = []
        for (w, h, ci, co), t in sorted(shapes.items()):
            kernels = {c: v for c, v in t.items() if c not in PEERS}
            best = min(kernels, key=kernels.get, default="")
            row = [w, h, ci if ci == co else f"{ci}->{co}"] + [_ms(t.get(c)) for c in cols]
            row += [best, _x(_fastest(t, "direct"), kernels.get(best))]
            cv = conv.get((w, h, ci, co), {})
            row += [_x(_fastest(cv, "direct"), kernels.get(best)), _x(_fastest(cv), kernels.get(best))] * bool(conv)
            row += [_x(t.get(p), kernels.get(best)) for p in peers]
            row += [_x(_fastest(t, "direct"), _fastest(t, x)) for x in ours]
            row += [_x(*ref[1].get((d, w, h, ci), (None, None))) for d in devices]
            body.append(row)
        kind = {"conv": "", "depthwise": " depthwise", "dwsep": " depthwise-separable (dw + 1x1 pw)"}[op]
        kind = f"{k}x{k}{kind}" + (f" stride {stride}" if stride != 1 else "")
        out.append((f"{kind}, {threads} thread{'s' if threads > 1 else ''} (latency in ms, median)", headers, body))
    return out


def _ms(v):
    return "" if v is None else f"{v:.4g}"


def _x(base, other):
    return "" if base is None or other is None or other <= 0 else f"{base / other:.2f}x"
