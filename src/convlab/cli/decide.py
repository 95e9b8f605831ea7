"""`convlab decide RESULTS...`: the device's decision table for algo="auto", and its regret."""
from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate


def register(sub) -> None:
    p = sub.add_parser("decide", help="learn the decision table algo='auto' uses on this device",
                       description="Measured winner per shape plus shallow-tree rules from sweep results, written to "
                                   "./results/<device-id>/decision.json of the working directory (or --out), never "
                                   "over the table convlab ships. algo=auto keeps reading the shipped table until "
                                   "told otherwise: --decision-table FILE on the commands that run convs, or "
                                   "CONVLAB_DECISION_TABLE=FILE. With --evaluate, the regret "
                                   "time(auto's pick)/time(fastest) of the rules on held-out results.")
    p.add_argument("results", nargs="*", help="sweep result CSVs of one device")
    p.add_argument("-o", "--out", help="table to write (default ./results/<device-id>/decision.json)")
    p.add_argument("--force", action="store_true", help="overwrite an existing table (never the shipped one)")
    p.add_argument("--evaluate", nargs="+", metavar="CSV", help="held-out result CSVs to measure the regret on")
    p.add_argument("--table", help="with --evaluate and no RESULTS: evaluate this existing table")
    p.add_argument("--threads", type=int, nargs="+", metavar="N",
                   help="learn only from rows at these thread counts (others fall back to the nearest count)")
    p.set_defaults(func=_decide)


def _decide(args) -> int:
    from ..errors import ConvlabError
    from ..paths import check_output, is_shipped, user_results_dir
    from .. import fileio
    from ..sweep import decide, store
    if not args.results and not (args.evaluate and args.table):
        raise ConvlabError("decide needs result CSVs (or --table with --evaluate)")
    inputs = list(args.results) + list(args.evaluate or []) + ([args.table] if args.table else [])
    if args.results:
        device = None
        for p in args.results:
            device = device or store.read_meta(Path(p)).get("device_id")
        out = Path(args.out) if args.out else user_results_dir(device=device) / "decision.json"
        check_output(out, force=args.force, inputs=inputs, what="decision table", allow_shipped=False)
    else:
        out = Path(args.table)
    regret = out.with_name(out.stem + "_regret.json")
    if args.evaluate:
        if is_shipped(out) or (not args.results and is_shipped(regret)):
            regret = user_results_dir() / regret.name
        check_output(regret, force=args.force, inputs=inputs, what="regret report", allow_shipped=False)
    if args.results:
        rows, device = [], None
        for p in args.results:
            rows += [r for r in store.read_rows(p) if not args.threads or r["threads"] in args.threads]
            device = device or store.read_meta(Path(p)).get("device_id")
        if not device:
            from ..device import device_id
            device = device_id()
        table = decide.build(rows, device, [str(p) for p in args.results])
        if not table["entries"]:
            raise ConvlabError("no successful kernel timings of single convs in these results")
        fileio.write_json(out, table)
        print(f"{out}: {len(table['entries'])} measured shapes, {len(table['rules'])} rule sets")
        for r in table["rules"]:
            print("\n".join("  " + t for t in r["text"]))
    else:
        table = json.loads(out.read_text())
    if args.evaluate:
        rows = [r for p in args.evaluate for r in store.read_rows(p)]
        ev = decide.evaluate(table, rows)
        fileio.write_json(regret, dict(ev, table=str(out), heldout=args.evaluate))
        print(tabulate([[p["shape"], p["backend"], p["threads"], p["fastest"], p["auto"], _f(p["auto_regret"]),
                         p["builtin"], _f(p["builtin_regret"])] for p in ev["per_shape"]],
                       ["held-out shape", "backend", "thr", "fastest", "auto", "regret", "built-in", "regret"]))
        for who in ("auto", "builtin"):
            s = ev[who]
            print(f"{who:8s} regret over {ev['shapes']} shapes: geomean {_f(s['geomean'])}, worst {_f(s['worst'])}, "
                  f"within 10%: {_f(s['within_10pct'], '.0%')}")
            for b, by in ev["by_backend"].items():
                print(f"  {b}: geomean {_f(by[who]['geomean'])}, worst {_f(by[who]['worst'])}")
        print(f"written to {regret}")
    return 0


def _f(v, fmt=".3f"):
    return "-" if v is None else format(v, fmt)
