"""`convlab regress`: run the fixed regression set, or compare two runs of it."""
from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("regress", help="noise-robust performance regression check of every kernel",
                       description="With BASELINE CURRENT: compare two reports (or pytest-benchmark JSONs saved with "
                                   "--benchmark-save-data) and flag kernels slower beyond the threshold. With --run: "
                                   "time the fixed set (each case paired with a frozen anchor) into a report. "
                                   "--ci = --run, then compare with --baseline if it exists, write the report, and "
                                   "exit 0 whatever was flagged (add --strict to exit 1 on a flag).")
    p.add_argument("reports", nargs="*", metavar="REPORT", help="BASELINE CURRENT report JSONs")
    p.add_argument("--run", metavar="OUT", help="time the fixed set and write the report to OUT")
    p.add_argument("--force", action="store_true", help="--run: overwrite OUT (e.g. refresh a committed baseline)")
    p.add_argument("--ci", action="store_true", help="run, compare with --baseline, write --out-dir/regress.md")
    p.add_argument("--baseline", help="baseline report for --ci (default: the one shipped for this device, "
                                      "results/<device-id>/regress_baseline.json)")
    p.add_argument("--out-dir", default="regress-report", help="where --ci writes current.json and regress.md")
    p.add_argument("--threshold", type=float, default=0.10, help="flag slowdowns beyond 1+THRESHOLD (default 0.10)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a case is flagged")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--samples", type=int, default=15, help="paired samples per case (default 15)")
    p.add_argument("--only", nargs="+", metavar="SUBSTR", help="only cases whose name contains one of these")
    p.add_argument("--confirm", type=int, default=2, metavar="N",
                   help="--ci: re-time each flagged case N times; it counts only if all N flag it (default 2)")
    p.set_defaults(func=_regress)


def _load(path: str) -> dict:
    from ..sweep import regress
    data = json.loads(Path(path).read_text())
    return regress.from_pytest_benchmark(data) if "benchmarks" in data else data


def _run(args) -> dict:
    from ..sweep import regress

    from ..progress import bar
    b = None

    def progress(i, n, name):
        nonlocal b
        if b is None:
            b = bar(total=n, desc="regress", unit="case")
        b.set_postfix_str(name)
        b.update()
    try:
        return regress.run_fixed_set(threads=args.threads, samples=args.samples, only=args.only, progress=progress)
    finally:
        if b is not None:
            b.close()


def _regress(args) -> int:
    from ..errors import ConvlabError
    from .. import fileio
    from ..paths import check_output, check_writable_dir, shipped_device_dir
    from ..sweep import regress
    if args.run:
        check_output(args.run, force=args.force, inputs=args.reports, what="regress report")
    if args.ci:
        check_writable_dir(args.out_dir, what="--out-dir")
    if args.run:
        fileio.write_json(Path(args.run), _run(args))
        print(args.run)
        if not args.reports:
            return 0
    if args.ci:
        out = Path(args.out_dir)
        current = _run(args)
        fileio.write_json(out / "current.json", current)
        base_path = Path(args.baseline) if args.baseline else shipped_device_dir() / "regress_baseline.json"
        if not base_path.is_file():
            print(f"no baseline at {base_path}: wrote {out / 'current.json'}; commit it as the baseline to start")
            return 0
        baseline = _load(str(base_path))
    elif len(args.reports) == 2:
        baseline, current = (_load(p) for p in args.reports)
        out = None
    else:
        raise ConvlabError("regress needs BASELINE CURRENT, --run OUT or --ci")
    if args.only:  # a partial run is compared with the same part of the baseline
        baseline = dict(baseline, cases={k: v for k, v in baseline["cases"].items() if k in current["cases"]})
    verdicts = regress.compare(baseline, current, args.threshold)
    if args.ci:
        verdicts = regress.confirm(baseline, verdicts, args.confirm, args.threshold, threads=args.threads,
                                   samples=args.samples)
    text = regress.markdown(verdicts, baseline, current, args.threshold, confirmed=args.ci)
    if out is not None:
        fileio.atomic_write(out / "regress.md", text)
    print(text)
    flagged = any(v.status == "slower" for v in verdicts)
    return 1 if flagged and args.strict else 0
