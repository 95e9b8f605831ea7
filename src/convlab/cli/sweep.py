"""`convlab sweep SPEC` and `convlab merge SHARD...`."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("sweep", help="time every kernel and peer over a grid of conv shapes",
                       description="Time every kernel (and requested peer) over the grid a sweep spec names; "
                                   "rows go to ./results/<device-id>/<name>.csv (or --out) as they finish.")
    p.add_argument("spec", help="sweep spec, YAML or TOML (see experiments/sweeps/)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep, skipping finished rows")
    p.add_argument("--shard", metavar="I/N", help="run only the I-th of N deterministic parts of the grid (1-based)")
    p.add_argument("--out", metavar="DIR", help="results directory (default ./results/<device-id>/ of the working "
                                                "directory)")
    p.add_argument("--threads", type=int, nargs="+", metavar="N", help="thread counts to run instead of the spec's")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)

    m = sub.add_parser("merge", help="join the shards of one sweep into one results file",
                       description="Join shard CSVs of one sweep; refuses shards of different sweeps or devices "
                                   "and rows measured twice with different values.")
    m.add_argument("shards", nargs="+", help="shard CSVs")
    m.add_argument("-o", "--out", required=True, help="merged CSV to write (its .json sidecar too)")
    m.set_defaults(func=_merge)


def _sweep(args) -> int:
    from ..sweep.grid import load
    from ..sweep.runner import parse_shard, run_sweep
    from ..paths import check_writable_dir
    from ..sweep.runner import default_out_dir
    spec = load(args.spec)
    check_writable_dir(Path(args.out) if args.out else default_out_dir(), what="sweep")
    if args.threads:
        spec.threads = args.threads
    try:
        path = run_sweep(spec, Path(args.out) if args.out else None, resume=args.resume,
                         shard=parse_shard(args.shard), progress=not args.no_progress)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("the shapes finished so far are saved; run again with --resume to continue") from None
    print(path)
    return 0


def _merge(args) -> int:
    from ..sweep.store import merge
    info = merge([Path(s) for s in args.shards], Path(args.out))
    print(f"{args.out}: {info['rows']} rows from {info['files']} files"
          + (f" ({info['duplicates']} identical duplicate rows dropped)" if info["duplicates"] else ""))
    return 0
