"""`convlab a55 report`: cycles of each NEON micro-kernel on the Cortex-A55, from its disassembly,
under llvm-mca-19 and under convlab's in-order dual-issue model (convlab.a55)."""
from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("a55", help="Cortex-A55 cycles of the NEON micro-kernels, without a board",
                       description="Cross-compiles csrc/ for the Cortex-A55, disassembles each NEON micro-kernel "
                                   "and times its inner loop with llvm-mca-19 and with convlab's in-order A55 "
                                   "dual-issue model (rules: convlab.a55).")
    a55_sub = p.add_subparsers(dest="a55_command", required=True, metavar="SUBCOMMAND")
    r = a55_sub.add_parser("report", help="table of cycles per inner-loop iteration and %% of fp32 peak")
    r.add_argument("--json", action="store_true", help="print the rows as JSON")
    r.add_argument("--write", metavar="DIR", help="also write DIR/report.md (with the method) and DIR/report.json")
    r.set_defaults(func=_report)


def _report(args) -> int:
    from .. import a55
    from ..errors import ConvlabError
    missing = a55.missing_tools()
    if missing:
        raise ConvlabError(f"needs {', '.join(missing)}: apt-get install gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu "
                           "(make setup)")
    rows = a55.analyse()
    if args.write:
        out = Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(a55.report_markdown(rows))
        (out / "report.json").write_text(json.dumps({"method": a55.METHOD, "rows": rows}, indent=1) + "\n")
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        if not any(r["llvm_mca_cycles"] for r in rows):
            print("(llvm-mca-19 not found: apt-get install llvm-19, or make setup)")
        print(a55.markdown(rows), end="")
    return 0
