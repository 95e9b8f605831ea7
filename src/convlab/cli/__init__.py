"""The `convlab` command. Each command group lives in its own module with a `register(subparsers)`."""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import ConvlabError

# Command modules, in the order `convlab --help` lists them.
COMMANDS = ["bench", "sweep", "zoo", "models", "decide", "face", "results", "profile", "compare", "optimize", "compile",
            "regress", "npu", "study", "a55"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convlab", description=__import__("convlab").__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConvlabError as e:
        print(f"convlab: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
        print(f"convlab: error: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:      # e.g. a --shape whose weights alone do not fit: numpy says how much
        print(f"convlab: error: out of memory: {e}" if str(e) else "convlab: error: out of memory", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
