"""Find the rknn venv and drive the worker that runs RKNN-Toolkit2 inside it.

The worker is started as `<rknn python> worker.py` (by path, so it runs exactly this checkout's
worker whatever convlab the rknn venv has installed) and serves JSON requests, one per line, on
stdin/stdout. The toolkit prints progress bars and warnings on stdout; the worker moves them to
stderr, which goes to a log file here: its warning lines go into reports, its error lines into
error messages.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import ToolkitRejectedError, ToolkitUnavailableError

TOOLKIT_REQUIREMENT = "rknn-toolkit2==2.5.0"
SETUP_HINT = ("install it with `make rknn` (part of `make setup`), or point CONVLAB_RKNN_PYTHON at a "
              f"python that has {TOOLKIT_REQUIREMENT}")
WORKER = Path(__file__).with_name("worker.py")
# Seconds one request may take (the slowest, a hybrid proposal of a large model, takes minutes):
# a hung simulator fails the caller instead of hanging CI.
REPLY_TIMEOUT = float(os.environ.get("CONVLAB_RKNN_TIMEOUT", 1800))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cache_dir() -> Path:
    return Path(os.environ.get("CONVLAB_CACHE") or Path.home() / ".cache" / "convlab")


def venv_dir() -> Path:
    return cache_dir() / "rknn-venv"


def python_path() -> Path:
    """The rknn venv's python: CONVLAB_RKNN_PYTHON if set, else the cached venv's."""
    if os.environ.get("CONVLAB_RKNN_PYTHON"):
        path, source = Path(os.environ["CONVLAB_RKNN_PYTHON"]), "CONVLAB_RKNN_PYTHON"
    else:
        path, source = venv_dir() / "bin" / "python", "the rknn venv"
    if not path.exists():
        raise ToolkitUnavailableError(f"RKNN-Toolkit2 is not available: {path} ({source}) does not exist; "
                                      f"{SETUP_HINT}")
    return path


def toolkit_lines(log: str, level: str) -> list[str]:
    """The toolkit's log lines of one level ("W" warnings, "E" errors), colour codes and level removed."""
    out = []
    for line in _ANSI.sub("", log).splitlines():
        if line.startswith(level + " "):
            text = line[2:].strip()
            if text and text not in out:
                out.append(text)
    return out


class Toolkit:
    """One worker process; use as a context manager. `call(op, **args)` returns the op's result dict
    plus `warnings` (the toolkit's warning lines for that call).

    The process starts at the first call (importing the toolkit takes seconds): a model or a
    calibration set that is refused before any toolkit work fails at once."""

    def __init__(self, python: str | os.PathLike | None = None):
        self.python = Path(python) if python else python_path()
        self.workdir = Path(tempfile.mkdtemp(prefix="convlab-npu-"))
        self.log_path = self.workdir / "toolkit.log"
        self._log = open(self.log_path, "wb")
        self.proc = None
        self._info: dict | None = None
        self._pending = b""      # bytes read from the worker past the last full reply line

    @property
    def info(self) -> dict:
        """Versions of the toolkit, python, numpy and onnx in the rknn venv."""
        if self._info is None:
            self._start()
        return self._info

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        try:
            self.proc = subprocess.Popen([str(self.python), str(WORKER)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._log, text=True,
                                         cwd=self.workdir, env=env)
        except OSError as e:
            self.close()
            raise ToolkitUnavailableError(f"cannot start {self.python}: {e}; {SETUP_HINT}") from None
        try:
            self._info = self._reply(0, "start")
        except ToolkitRejectedError as e:
            self.close()
            raise ToolkitUnavailableError(f"RKNN-Toolkit2 cannot be imported by {self.python}: {e}; "
                                          f"{SETUP_HINT}") from None

    def call(self, op: str, **args) -> dict:
        if self._info is None:
            self._start()
        start = self.log_path.stat().st_size
        try:
            self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass                        # the worker died; _reply reports why
        result = self._reply(start, op)
        result["warnings"] = toolkit_lines(self._log_since(start), "W")
        return result

    def _log_since(self, start: int) -> str:
        self._log.flush()
        with open(self.log_path, "rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")

    def _read_line(self, op: str) -> bytes | None:
        """One reply line, or None at end of file, within REPLY_TIMEOUT for the whole line.

        Reads the pipe's file descriptor directly (select + os.read) with one deadline: a worker
        that writes part of a line and then hangs used to block readline() past the timeout forever
        (issue 16), since select only said that *some* bytes were there."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + REPLY_TIMEOUT
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.proc.kill()
                partial = f" (it had sent {len(self._pending)} bytes of a line)" if self._pending else ""
                raise ToolkitRejectedError(f"the RKNN worker gave no answer to {op} within {REPLY_TIMEOUT:g} s "
                                           f"(CONVLAB_RKNN_TIMEOUT){partial}; it was stopped")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def _reply(self, start: int, op: str) -> dict:
        line = self._read_line(op)
        if line is None:
            code = self.proc.wait()
            tail = "\n".join(_ANSI.sub("", self._log_since(start)).strip().splitlines()[-15:])
            raise ToolkitRejectedError(f"the RKNN worker died during {op} (exit code {code}); its last output:\n{tail}")
        try:
            reply = json.loads(line.decode("utf-8", errors="replace"))
            ok = reply["ok"]
        except (ValueError, KeyError, TypeError):
            self.proc.kill()
            raise ToolkitRejectedError(f"the RKNN worker sent a malformed reply to {op}: {line[:200]!r}; "
                                       "it was stopped") from None
        if ok:
            return reply["result"]
        errors = toolkit_lines(self._log_since(start), "E")
        detail = "; ".join(dict.fromkeys(errors + [str(reply.get("error"))]))
        raise ToolkitRejectedError(f"RKNN-Toolkit2 {op} failed: {detail}")

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Toolkit":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
