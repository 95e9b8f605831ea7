"""Does `convlab regress` catch a real 25% slowdown and stay quiet on unchanged reruns, on this host?

Runs the fixed regression set once as the baseline (saved as results/<device-id>/regress_baseline.json,
the baseline `convlab regress --ci` compares against), five more times unchanged, and once with one
kernel slowed by 25% (its own work plus a CPU spin of a quarter of it); flagged cases are re-timed
twice as `convlab regress --ci` does (confirmation reruns, the injection kept). Writes
results/<device-id>/regress_validation.{json,md}.

    .venv/bin/python experiments/regress_validation.py [--case NAME] [--samples N]
"""
from __future__ import annotations

import argparse
import sys

from convlab.device import results_dir
from convlab import fileio
from convlab.sweep import regress


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="im2col/numba@3x3_32x32_28", help="the case to slow down by 25%%")
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--reruns", type=int, default=5)
    args = ap.parse_args()
    out = results_dir()

    def run(label, inject=None):
        print(f"{label} ...", file=sys.stderr, flush=True)
        return regress.run_fixed_set(samples=args.samples, inject=inject)

    baseline = run("baseline")
    fileio.write_json(out / "regress_baseline.json", baseline)
    runs = [(f"unchanged rerun {i + 1}", run(f"rerun {i + 1}")) for i in range(args.reruns)]
    runs.append((f"{args.case} slowed 25%", run("injected", {args.case: 1.25})))
    summary, lines = [], ["# Regression detector on real timings (this host, shared and loaded)", "",
                          f"Fixed set: {len(baseline['cases'])} cases (kernel x shape), 1 thread, {args.samples} "
                          f"blocks each; threshold {1 + regress.THRESHOLD:.2f}x, Mann-Whitney p < {regress.ALPHA}, "
                          "bootstrap 95% CI above 1. Load average at the baseline: "
                          f"{baseline['machine'].get('load_average')}.", "",
                          "| run | flagged slower (confirmed) | flagged once, cleared by reruns | "
                          "largest slowdown among unflagged | flagged: slowdown (95% CI; reruns) |",
                          "|---|---|---|---|---|"]
    for label, rep in runs:
        v = regress.confirm(baseline, regress.compare(baseline, rep), samples=args.samples, inject=rep["injected"])
        flagged = [x for x in v if x.status == "slower"]
        cleared = [x for x in v if x.status == "unconfirmed"]
        quiet = max((x.slowdown for x in v if x.status == "same" and x.slowdown), default=float("nan"))
        summary.append(dict(run=label, load_average=rep["machine"].get("load_average"),
                            verdicts=[vars(x) for x in v]))
        lines.append(f"| {label} | {len(flagged)} | "
                     + ", ".join(f"{x.case} {x.slowdown:.3f} (reruns {', '.join(f'{r:.3f}' for r in x.reruns)})"
                                 for x in cleared)
                     + f" | {quiet:.3f} | "
                     + ", ".join(f"{x.case}: {x.slowdown:.3f} ({x.ci[0]:.3f}-{x.ci[1]:.3f}; "
                                 f"{', '.join(f'{r:.3f}' for r in x.reruns)})" for x in flagged) + " |")
    fileio.write_json(out / "regress_validation.json", dict(case=args.case, runs=summary))
    fileio.atomic_write(out / "regress_validation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
