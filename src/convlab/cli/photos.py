"""`convlab photos fetch` / `convlab photos list`: real photographs cached from PyPI packages (convlab.photos)."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("photos", help="real photographs of people (face_recognition, insightface) cached from PyPI",
                       description="Photographs taken from pinned PyPI packages into $CONVLAB_CACHE/photos (default "
                                   "~/.cache/convlab/photos); `make setup` fetches them. Each is then an image "
                                   "named builtin:NAME for `convlab run`, `verify` and `gallery`.")
    psub = p.add_subparsers(dest="photos_command", required=True, metavar="SUBCOMMAND")
    f = psub.add_parser("fetch", help="download (pip download --no-deps) and extract them; skips photographs cached")
    f.add_argument("names", nargs="*", metavar="NAME", help="photographs to fetch (default: all)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=_fetch)
    ls = psub.add_parser("list", help="the photographs, who is in them, their source and whether they are cached")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)


def _fetch(args) -> int:
    from .. import photos
    rows = photos.fetch(args.names or None, log=lambda s: print(s, file=sys.stderr))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['photo']:<20} {r['action']:<8} {r['path']}  sha256 {r['sha256'][:16]}...")
    return 0


def _list(args) -> int:
    from tabulate import tabulate
    from .. import photos
    rows = photos.status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(tabulate([["builtin:" + r["photo"], "yes" if r["cached"] else "no", r["person"] or "(group)", r["faces"],
                     r["source"], r["description"]] for r in rows],
                   headers=["image", "cached", "person", "faces", "from", "what"]))
    print("\nalso built in (scikit-image): " + ", ".join(f"builtin:{n} ({who})" for n, who in photos.INSTALLED.items()))
    if not all(r["cached"] for r in rows):
        print(f"missing photographs: {photos.FETCH_HINT}")
    return 0
