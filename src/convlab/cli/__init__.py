"""The `convlab` command. Each command group lives in its own module with a `register(subparsers)`.

Exit codes: 0 success; 2 a usage or input error (one line on stderr, no traceback); 130 interrupted
by Ctrl-C ("convlab: interrupted"); 141 when the reader of stdout went away (`convlab ... --json |
head`: "convlab: output closed (broken pipe)"), 128 + SIGPIPE as a shell reports for a writer
killed by SIGPIPE.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import ConvlabError

# Command modules, in the order `convlab --help` lists them.
COMMANDS = ["bench", "sweep", "zoo", "models", "photos", "decide", "face", "results", "profile", "compare", "optimize", "compile",
            "regress", "npu", "study", "a55"]

EXIT_ERROR, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 130, 141


# Help for the options and arguments registered without one, by destination.
GENERIC_HELP = {
    "threads": "CPU threads", "seed": "random seed", "batch": "batch size N of the input", "groups": "conv groups",
    "json": "print JSON instead of text", "warmup": "untimed runs first", "repeat": "timed runs",
    "repeats": "timed runs", "top": "how many names to list", "threshold": "cosine similarity for a match",
    "score_threshold": "detector score below which candidates are dropped",
    "nms_iou": "IoU above which NMS suppresses the lower-scored box", "max_faces": "faces fitted and extracted at most",
    "detector_spec": "model spec of --detector (default: X.json beside it)",
    "fitter_spec": "model spec of --fitter (default: Y.json beside it)",
    "extractor_spec": "model spec of --extractor (default: Z.json beside it)",
    "target": "RKNN target platform", "quant_algo": "RKNN quantisation algorithm",
    "quant_method": "RKNN quantisation granularity (per channel or per layer)",
    "hybrid_worst": "--hybrid-auto worst: how many layers to keep in fp16", "dtype": "NPU data type",
    "image": "image file (PNG/JPEG) or builtin:NAME", "image_a": "first image", "image_b": "second image",
    "name": "the person's name",
}


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option's help of every (sub)command states its default, unless it already does."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _show_defaults(sub)
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)) or action.help == argparse.SUPPRESS:
            continue
        if not action.help and action.dest in GENERIC_HELP:
            action.help = GENERIC_HELP[action.dest]
        d = action.default
        if d is None or d is False or d == [] or d == argparse.SUPPRESS or (not action.option_strings and
                                                                           action.nargs not in ("?", "*")):
            continue
        text = action.help or ""
        if "default" in text.lower():
            continue
        action.help = (text + " " if text else "") + "(default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    from .. import __doc__ as doc, __version__
    parser = argparse.ArgumentParser(prog="convlab", description=doc)
    parser.add_argument("--version", action="version", version=f"convlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    _show_defaults(parser)
    return parser


def _stdout_gone() -> int:
    # The reader closed the pipe: point stdout at /dev/null so the interpreter's final flush does not
    # raise again, and say so once on stderr.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    try:
        print("convlab: output closed (broken pipe)", file=sys.stderr)
    except OSError:
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("convlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        if getattr(args, "decision_table", None):
            from ..selection import set_table_path
            set_table_path(args.decision_table)
        rc = int(args.func(args) or 0)
        sys.stdout.flush()         # a closed pipe shows up here, not in the interpreter's exit
        return rc
    except ConvlabError as e:
        print(f"convlab: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        print(f"convlab: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError as e:      # e.g. a --shape whose weights alone do not fit: numpy says how much
        print(f"convlab: error: out of memory: {e}" if str(e) else "convlab: error: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as e:     # a command may say what was kept (e.g. sweep: --resume continues)
        print(f"convlab: interrupted: {e}" if str(e) else "convlab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _stdout_gone()


if __name__ == "__main__":
    sys.exit(main())
