"""Run a sweep: time every candidate of every group, append the rows, resume where it stopped.

Unit of work is a group (one shape cell at one thread count, all its candidates interleaved); its
rows are written together when it finishes, so a kill loses at most the group in flight, and
--resume measures only rows the file lacks.
"""
from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import numpy as np

from tqdm import tqdm

from .. import registry
from ..bench.machine import machine_info
from ..bench.timing import time_interleaved
from ..device import device_id
from ..errors import ConvlabError
from ..fileio import write_json
from .candidates import candidates
from .grid import PEER_ALGO, Group, SweepSpec
from .store import ResultFile, locked, read_meta, sidecar

NOISE_NOTE = ("timed on a shared host (other jobs running): 1-thread rows are process CPU time (preemption "
              "not counted), multi-thread rows wall time (waiting for a core counted); candidates of one group are "
              "interleaved, so compare within a group first")


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 1, 1
    try:
        i, n = (int(t) for t in text.split("/"))
    except ValueError:
        raise ConvlabError(f"--shard must look like I/N (e.g. 2/4), got {text!r}") from None
    if not 1 <= i <= n:
        raise ConvlabError(f"--shard {text}: need 1 <= I <= N")
    return i, n


def default_out_dir() -> Path:
    """./results/<device-id>/ of the working directory (never the package's own folder)."""
    from ..paths import user_results_dir
    return user_results_dir(device=device_id())


def results_path(spec: SweepSpec, out_dir: Path, shard: tuple[int, int]) -> Path:
    i, n = shard
    return out_dir / (f"{spec.name}.csv" if n == 1 else f"{spec.name}.shard-{i}-of-{n}.csv")


def planned_keys(spec: SweepSpec, group: Group) -> set[tuple]:
    keys = set()
    for s in group.shapes:
        base = (s.op, s.k, s.stride, s.padding, s.c_in, s.c_out, s.h, s.w, s.groups, s.batch, group.threads)
        for b in spec.backends:
            for e in registry.entries(b):
                if spec.wants(e.algo):
                    keys.add(base + (e.algo, b))
        keys |= {base + (PEER_ALGO, p) for p in spec.peers}
    return keys


def my_groups(spec: SweepSpec, shard: tuple[int, int]) -> list[Group]:
    i, n = shard
    return [g for idx, g in enumerate(spec.groups()) if idx % n == i - 1]


def run_sweep(spec: SweepSpec, out_dir: Path | None = None, *, resume: bool = False,
              shard: tuple[int, int] = (1, 1), progress: bool = True) -> Path:
    unknown = set(spec.backends) - set(registry.backends())
    if unknown:
        raise ConvlabError(f"sweep {spec.name}: unknown backend(s) {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(registry.backends())}")
    spec.validate()     # again: the CLI may have replaced threads (--threads 0 wrote "convlab bug" error rows)
    out_dir = Path(out_dir) if out_dir else default_out_dir()
    path = results_path(spec, out_dir, shard)
    with locked(path):
        return _run_locked(spec, path, resume, shard, progress)


def _run_locked(spec: SweepSpec, path: Path, resume: bool, shard: tuple[int, int], progress: bool) -> Path:
    if path.exists() and not resume:
        raise ConvlabError(f"{path} exists: pass --resume to continue it, or remove it to start over")
    if path.exists():
        old = read_meta(path).get("fingerprint")
        if old and old != spec.fingerprint():
            raise ConvlabError(f"{path} was made by a different version of sweep {spec.name!r} "
                               f"(fingerprint {old} != {spec.fingerprint()}); remove it to start over")
    store = ResultFile(path)
    if store.truncated:
        print(f"{path}: line(s) {', '.join(map(str, store.truncated))} were truncated; measuring them again",
              file=sys.stderr)
    meta = _metadata(spec, shard, read_meta(path) if path.exists() else None)
    write_json(sidecar(path), meta)
    groups = my_groups(spec, shard)
    todo = [(g, planned_keys(spec, g) - store.keys) for g in groups]
    todo = [(g, keys) for g, keys in todo if keys]
    bar = tqdm(total=len(groups), initial=len(groups) - len(todo), desc=spec.name, unit="shape",
               disable=not progress, dynamic_ncols=True)
    for g, keys in todo:
        bar.set_postfix_str(f"{g.shapes[0].c_in}->{g.shapes[0].c_out} {g.shapes[0].h}x{g.shapes[0].w} "
                            f"k{g.shapes[0].k} t{g.threads}")
        store.add(_measure_group(spec, g, keys))
        bar.update()
    bar.close()
    meta["finished_at"] = _now()
    meta["complete"] = all(not (planned_keys(spec, g) - store.keys) for g in groups)
    write_json(sidecar(path), meta)
    return path


def _measure_group(spec: SweepSpec, g: Group, keys: set[tuple]) -> list[dict]:
    cands = []
    for s in g.shapes:
        cands += [c for c in candidates(spec, s, g.threads) if _key(c, g.threads) in keys]
    tm = spec.timing
    fns = {i: c.run for i, c in enumerate(cands) if c.status == "ok"}
    timed = time_interleaved(fns, warmup=tm.warmup, repeats=tm.min_repeats, max_time=tm.max_seconds * len(fns),
                             rel_precision=tm.target_rel_precision, clock=clock_for(g.threads))
    now = _now()
    rows = []
    for i, c in enumerate(cands):
        s = c.shape
        row = dict(zip(("op", "k", "stride", "padding", "c_in", "c_out", "h", "w", "groups", "batch"),
                       (s.op, s.k, s.stride, s.padding, s.c_in, s.c_out, s.h, s.w, s.groups, s.batch)),
                   threads=g.threads, algo=c.algo, backend=c.backend, status=c.status, reason=c.reason,
                   prepare_ms=_round(c.prepare_ms), measured_at=now)
        if i in timed:
            t = timed[i]
            q1, q3 = np.percentile(t.samples, [25, 75]) * 1e3
            row.update(median_ms=_round(t.median * 1e3), q1_ms=_round(q1), q3_ms=_round(q3), samples=len(t.samples),
                       rel_iqr=round(t.rel_iqr, 4), converged=t.converged,
                       gflop_s=round(s.gflop() / t.median, 3) if t.median > 0 else None)
        rows.append(row)
    return rows


def clock_for(threads: int):
    """One thread: process CPU time, so time spent preempted by other jobs on a shared host is not
    counted (one busy thread's CPU time is its latency). More threads: wall time, the only latency
    there is -- and on a loaded host it includes waiting for a core."""
    return time.process_time if threads == 1 else time.perf_counter


def _key(c, threads) -> tuple:
    s = c.shape
    return (s.op, s.k, s.stride, s.padding, s.c_in, s.c_out, s.h, s.w, s.groups, s.batch, threads, c.algo, c.backend)


def _round(v):
    return None if v is None else float(f"{v:.6g}")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _metadata(spec: SweepSpec, shard: tuple[int, int], old: dict | None) -> dict:
    meta = dict(sweep=spec.name, spec_path=spec.path, description=spec.description, reference=spec.reference,
                fingerprint=spec.fingerprint(), device_id=device_id(), shard=list(shard), timing=vars(spec.timing),
                clock={"1 thread": "time.process_time", "more threads": "time.perf_counter"},
                machine=machine_info(), noise=NOISE_NOTE, started_at=_now(), complete=False,
                kernels={f"{e.algo}/{e.backend}": e.description for b in spec.backends for e in registry.entries(b)})
    if old:
        meta["sessions"] = old.get("sessions", []) + [{k: old.get(k) for k in ("started_at", "finished_at", "machine")}]
    return meta

