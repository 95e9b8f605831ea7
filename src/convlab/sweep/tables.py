"""Seed-style tables from results: one row per shape (W H C), one latency column per kernel, the
speedup of the fastest over direct, and -- where the sweep reproduces a seed study -- the seed's own
direct/X ratio per device beside ours (ratios, because the seed's hardware differs).
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from .grid import PEER_ALGO, PEERS

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "results" / "reference"
# The seed's "X" column -> which of our columns it corresponds to (prefix match, fastest taken).
SEED_ALGO = {"winograd": ("winograd",), "gemm": ("im2col",), "depthwise": ("dw:", "dwsep:")}


def column(r: dict) -> str:
    name = r["backend"] if r["algo"] == PEER_ALGO else r["algo"]
    return {"conv": name, "depthwise": f"dw:{name}", "dwsep": f"dwsep:{name}"}[r["op"]]


def cells(rows: list[dict]) -> dict[tuple, dict[tuple, dict[str, float]]]:
    """(threads, k, stride) -> (w, h, c_in, c_out) -> {column: median ms}, ok rows only, numba and peers.

    Kernels of one algo on several backends get the backend in the name."""
    multi = len({r["backend"] for r in rows if r["algo"] != PEER_ALGO}) > 1
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["status"] != "ok":
            continue
        col = column(r) + (f"/{r['backend']}" if multi and r["algo"] != PEER_ALGO else "")
        out[(r["threads"], r["k"], r["stride"])][(r["w"], r["h"], r["c_in"], r["c_out"])][col] = r["median_ms"]
    return out


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
    """[(title, headers, body)] per thread count and kernel size."""
    ref = read_reference(reference, ref_dir)
    out = []
    for (threads, k, stride), shapes in sorted(cells(rows).items()):
        cols = sorted({c for t in shapes.values() for c in t}, key=lambda c: (c != "direct", c.count(":"), c))
        ours = [x for x in (SEED_ALGO.get(ref[0], ()) if ref else ()) if any(c.startswith(x) for c in cols)]
        devices = sorted({d for d, *_ in ref[1]}) if ref else []
        peers = [c for c in cols if c in PEERS]
        headers = ["W", "H", "C"] + [f"{c} ms" for c in cols] + ["fastest kernel", "speedup vs direct"]
        headers += [f"{p} / fastest kernel" for p in peers]
        headers += [f"direct/{x.rstrip(':')}" for x in ours] + [f"seed {d} direct/{ref[0]}" for d in devices]
        body = []
        for (w, h, ci, co), t in sorted(shapes.items()):
            kernels = {c: v for c, v in t.items() if c not in PEERS}
            best = min(kernels, key=kernels.get, default=None)
            row = [w, h, ci if ci == co else f"{ci}->{co}"] + [_ms(t.get(c)) for c in cols]
            row += [best or "", _x(t.get("direct"), kernels.get(best))]
            row += [_x(t.get(p), kernels.get(best)) for p in peers]
            row += [_x(t.get("direct"), min((v for c, v in t.items() if c.startswith(x)), default=None)) for x in ours]
            row += [_x(*ref[1].get((d, w, h, ci), (None, None))) for d in devices]
            body.append(row)
        kind = f"{k}x{k}" + (f" stride {stride}" if stride != 1 else "")
        out.append((f"{kind}, {threads} thread{'s' if threads > 1 else ''} (latency in ms, median)", headers, body))
    return out


def _ms(v):
    return "" if v is None else f"{v:.4g}"


def _x(base, other):
    return "" if base is None or other is None or other <= 0 else f"{base / other:.2f}x"
