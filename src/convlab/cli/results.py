"""`convlab table RESULTS` and `convlab plot RESULTS`: seed-style tables and figures from sweep results."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    t = sub.add_parser("table", help="seed-style tables (W H C, a column per kernel, speedup) from results",
                       description="Latency tables from sweep results, with the seed study's direct/X ratios "
                                   "beside ours when the sweep reproduces one.")
    t.add_argument("results", nargs="+", help="sweep result CSVs")
    t.add_argument("--format", default="github", help="tabulate format (default github)")
    t.add_argument("-o", "--out", help="write to this file instead of stdout")
    t.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    t.set_defaults(func=_table)
    p = sub.add_parser("plot", help="PNG figures (latency vs shape, winner map) from results",
                       description="Log latency vs shape index per kernel and the map of the fastest kernel over "
                                   "(C, W), with the seed study's figures beside them when it matches.")
    p.add_argument("results", nargs="+", help="sweep result CSVs")
    p.add_argument("-o", "--out", help="directory for the PNGs (default: beside each results file, or "
                                       "./results/<device-id>/ when that file is convlab's shipped data)")
    p.add_argument("--force", action="store_true", help="overwrite PNGs that exist")
    p.set_defaults(func=_plot)


def _table(args) -> int:
    from tabulate import tabulate

    from .. import fileio
    from ..paths import check_output
    from ..sweep import store, tables
    if args.out:
        check_output(args.out, force=args.force, inputs=args.results, what="table")
    parts = []
    for path in args.results:
        meta = store.read_meta(Path(path))
        parts.append(f"## {meta.get('sweep', Path(path).stem)} ({meta.get('device_id', 'unknown device')})\n")
        if meta.get("noise"):
            parts.append(f"Note: {meta['noise']}.\n")
        for title, headers, body in tables.tables(store.read_rows(path), meta.get("reference")):
            parts.append(f"### {title}\n\n{tabulate(body, headers, tablefmt=args.format)}\n")
    text = "\n".join(parts)
    if args.out:
        fileio.atomic_write(Path(args.out), text)
        print(args.out)
    else:
        print(text)
    return 0


def _plot(args) -> int:
    from ..paths import check_output, is_shipped, user_results_dir
    from ..sweep import plots, store
    jobs = []
    for path in args.results:          # every output checked before any plot is drawn
        path = Path(path)
        meta = store.read_meta(path)
        rows = store.read_rows(path)
        out = Path(args.out) if args.out else (user_results_dir(device=meta.get("device_id")) if is_shipped(path)
                                               else path.parent)
        name = meta.get("sweep", path.stem)
        for png in plots.planned_files(rows, name, out):
            check_output(png, force=args.force, inputs=args.results, what="plot")
        jobs.append((rows, name, out, meta.get("reference")))
    for rows, name, out, reference in jobs:
        for png in plots.plot_all(rows, name, out, reference):
            print(png)
    return 0
