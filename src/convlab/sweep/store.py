"""Tidy result files: one CSV row per shape x algo x backend x threads, plus a JSON sidecar.

Every write replaces the whole file through convlab.fileio.atomic_write, so a reader (or a sweep
killed mid-write) only ever sees the old or the new complete file, never a torn row.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
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


def read_rows(path: str | Path, truncated: list | None = None) -> list[dict]:
    """The typed rows of a results CSV.

    A torn row (the last line without its newline, or a line with the wrong number of fields: a
    file written by something other than atomic_write, or cut by a full disk or a copy) is never
    taken as measured: with ``truncated`` (a list) such rows are dropped and their line numbers
    appended to it (so --resume measures them again); without, they raise ResultsError.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"results file {path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsError(f"results file {path}: not UTF-8 text (byte {e.start}): not a convlab results CSV") from None
    except OSError as e:
        raise ResultsError(f"results file {path}: cannot read: {e.strerror}") from None
    rd = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = rd.fieldnames or ()
    except csv.Error as e:
        raise ResultsError(f"results file {path}: not a CSV: {e}") from None
    missing = set(ROW_KEY + ("status", "median_ms")) - set(fieldnames)
    if missing:
        raise ResultsError(f"results file {path}: not a convlab results CSV (lacks {', '.join(sorted(missing))})")
    rows, bad = [], []
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        for r in rd:
            i = rd.line_num
            if None in r or any(v is None for v in r.values()) or (i == n_lines and not text.endswith("\n")):
                bad.append(i)
                continue
            try:
                rows.append({k: _typed(k, r.get(k, "")) for k in COLUMNS})
            except ValueError as e:
                raise ResultsError(f"results file {path}, line {i}: {e}") from None
    except csv.Error as e:
        raise ResultsError(f"results file {path}, line {rd.line_num}: not a CSV row: {e}") from None
    if bad:
        if truncated is None:
            raise ResultsError(f"results file {path}: line(s) {', '.join(map(str, bad))} are truncated (wrong number "
                               "of fields or no final newline); rerun the sweep with --resume to measure them again")
        truncated += bad
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
    """A results CSV being filled: `add` appends rows and rewrites the file atomically.

    Truncated rows found on opening are dropped (``self.truncated`` lists their lines), so a resumed
    sweep measures them again instead of taking a torn row as a measurement."""

    def __init__(self, path: Path):
        self.path = path
        self.truncated: list[int] = []
        self.rows = read_rows(path, self.truncated) if path.exists() else []
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


@contextlib.contextmanager
def locked(csv_path: Path):
    """Hold an exclusive lock on a results file (flock on its sidecar ``<name>.csv.lock``) while writing it.

    Two `sweep --resume` runs on one output each rewrite the whole file from what they read, so the
    second would drop the first one's rows (issue 16: 40 of 80 kept). The second process refuses at
    once with a clear message rather than waiting, since waiting for a sweep can take hours and the
    user most likely started it twice by mistake (shards are the way to split a sweep)."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = csv_path.with_name(csv_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ResultsError(f"{csv_path} is being written by another convlab process (pid {holder}); wait for it "
                               "to finish (then --resume), or write elsewhere with --out / split the work with "
                               "--shard") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)    # releases the lock; the .lock file stays (removing it would race a waiting locker)


def read_meta(csv_path: Path) -> dict:
    """The JSON sidecar of a results CSV ({} when there is none); a corrupt one is a ResultsError."""
    from ..device import check_device_id
    p = sidecar(Path(csv_path))
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ResultsError(f"results sidecar {p}: not valid JSON ({' '.join(str(e).split())[:120]}); "
                           "remove it (and --resume) or restore it") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"results sidecar {p}: must be a JSON object, got {type(meta).__name__}")
    if meta.get("device_id") is not None:
        try:
            check_device_id(meta["device_id"], f"results sidecar {p}")
        except ConvlabError as e:
            raise ResultsError(str(e)) from None
    return meta


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
        if Path(p).resolve() == Path(out).resolve():
            raise ResultsError(f"merge: the output {out} is also an input; write the merge to a new file")
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
    meta = dict(metas[0]) if metas else {}
    meta.pop("shard", None)
    meta["merged_from"] = [str(p) for p in paths]
    meta["shards_meta"] = metas
    with locked(out):
        atomic_write(out, rows_to_csv(rows))
        write_json(sidecar(out), meta)
    return {"rows": len(rows), "duplicates": len(duplicates), "files": len(paths)}
