"""Tidy result files: one CSV row per shape x algo x backend x threads, plus a JSON sidecar.

Every write replaces the whole file through convlab.fileio.atomic_write, so a reader (or a sweep
killed mid-write) only ever sees the old or the new complete file, never a torn row.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import ConvlabError
from ..fileio import atomic_write, write_json
from .grid import ROW_KEY

MEASURED = ("status", "reason", "median_ms", "q1_ms", "q3_ms", "samples", "rel_iqr", "converged", "gflop_s",
            "prepare_ms", "measured_at")
COLUMNS = ROW_KEY + MEASURED
_INT_COLS = {"k", "stride", "padding", "c_in", "c_out", "h", "w", "groups", "batch", "threads", "samples"}
_FLOAT_COLS = {"median_ms", "q1_ms", "q3_ms", "rel_iqr", "gflop_s", "prepare_ms"}


class ResultsError(ConvlabError):
    """A results file is missing, malformed, or conflicts with another."""


def row_key(row: dict) -> tuple:
    return tuple(row[k] for k in ROW_KEY)


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    wr = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow({k: ("" if r.get(k) is None else r[k]) for k in COLUMNS})
    return buf.getvalue()


def read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"results file {path}: no such file")
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        missing = set(ROW_KEY + ("status", "median_ms")) - set(rd.fieldnames or ())
        if missing:
            raise ResultsError(f"results file {path}: not a convlab results CSV (lacks {', '.join(sorted(missing))})")
        rows = []
        for i, r in enumerate(rd, start=2):
            try:
                rows.append({k: _typed(k, r.get(k, "")) for k in COLUMNS})
            except ValueError as e:
                raise ResultsError(f"results file {path}, line {i}: {e}") from None
    return rows


def _typed(col: str, v: str):
    if v == "" or v is None:
        return None
    if col in _INT_COLS:
        return int(v)
    if col in _FLOAT_COLS:
        return float(v)
    return v


class ResultFile:
    """A results CSV being filled: `add` appends rows and rewrites the file atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = read_rows(path) if path.exists() else []
        self.keys = {row_key(r) for r in self.rows}

    def add(self, rows: list[dict]) -> None:
        new = [r for r in rows if row_key(r) not in self.keys]
        if len(new) != len(rows):
            raise ResultsError(f"{self.path}: refusing to measure a row twice")
        self.rows += new
        self.keys |= {row_key(r) for r in new}
        atomic_write(self.path, rows_to_csv(self.rows))


def sidecar(csv_path: Path) -> Path:
    return csv_path.with_suffix(".json")


def read_meta(csv_path: Path) -> dict:
    p = sidecar(Path(csv_path))
    return json.loads(p.read_text()) if p.is_file() else {}


def merge(paths: list[Path], out: Path) -> dict:
    """Join shard CSVs into one; duplicates with equal values are dropped, differing ones are conflicts."""
    if not paths:
        raise ResultsError("merge needs at least one results file")
    metas = [read_meta(p) for p in paths]
    for what in ("fingerprint", "device_id"):
        seen = {m.get(what) for m in metas if m.get(what)}
        if len(seen) > 1:
            raise ResultsError(f"shards disagree on {what}: {', '.join(sorted(seen))} -- they are not one sweep")
    by_key: dict[tuple, tuple[dict, Path]] = {}
    duplicates, conflicts = [], []
    for p in paths:
        for r in read_rows(p):
            k = row_key(r)
            if k in by_key:
                (duplicates if by_key[k][0] == r else conflicts).append((k, by_key[k][1], p))
                continue
            by_key[k] = (r, p)
    if conflicts:
        k, a, b = conflicts[0]
        raise ResultsError(f"{len(conflicts)} conflicting row(s); first: {dict(zip(ROW_KEY, k))} differs between "
                           f"{a} and {b}")
    rows = [r for r, _ in by_key.values()]
    atomic_write(out, rows_to_csv(rows))
    meta = dict(metas[0]) if metas else {}
    meta.pop("shard", None)
    meta["merged_from"] = [str(p) for p in paths]
    meta["shards_meta"] = metas
    write_json(sidecar(out), meta)
    return {"rows": len(rows), "duplicates": len(duplicates), "files": len(paths)}
