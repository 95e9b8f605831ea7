"""Create or check the rknn venv (`make rknn`, run by `make setup`): RKNN-Toolkit2 and convlab,
in their own venv cached outside the clone, because the toolkit pins numpy<=1.26.4, onnx<=1.18 and
torch<=2.4 (with its CUDA wheels, about 6 GB).

Idempotent: a venv whose stamp matches and whose imports work is reused; a missing, incomplete
or broken one is rebuilt beside it and swapped in. Failure exits non-zero: never skipped quietly.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..device import REPO_ROOT as REPO
from .toolkit import TOOLKIT_REQUIREMENT, venv_dir

STAMP_FILE = ".convlab-complete"
STAMP = f"{TOOLKIT_REQUIREMENT} python{sys.version_info.major}.{sys.version_info.minor}\n"
# What the NPU path needs from the venv (the worker) and what `pip install -e convlab` must resolve.
CHECK = ("import rknn.api, numpy, onnx, onnxruntime, numba; from importlib import metadata; "
         "print('rknn-toolkit2', metadata.version('rknn-toolkit2'), 'numpy', numpy.__version__, "
         "'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__, 'numba', numba.__version__)")


def problem(venv: Path) -> str | None:
    """Why the venv cannot be used, or None."""
    python = venv / "bin" / "python"
    if not python.exists():
        return f"{python} does not exist"
    stamp = venv / STAMP_FILE
    if not stamp.exists() or stamp.read_text() != STAMP:
        return f"{stamp} is missing or not {STAMP.strip()!r} (an install did not finish or is outdated)"
    run = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True)
    if run.returncode != 0:
        return f"its imports fail: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode}"
    return None


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"rknn venv: `{' '.join(cmd)}` failed; the NPU path cannot be installed")


def create(venv: Path) -> None:
    """Build in <venv>.tmp, then swap it in: an interrupted install never looks complete."""
    tmp = venv.with_name(venv.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(tmp)])
    python = str(tmp / "bin" / "python")       # `python -m pip`: the venv's scripts break when it moves
    _run([python, "-m", "pip", "install", "-q", TOOLKIT_REQUIREMENT])
    _run([python, "-m", "pip", "install", "-q", "-e", str(REPO)])
    (tmp / STAMP_FILE).write_text(STAMP)
    shutil.rmtree(venv, ignore_errors=True)
    tmp.rename(venv)


def main() -> int:
    venv = venv_dir()
    reason = problem(venv)
    if reason is None:
        print(f"rknn venv: reusing {venv}")
    else:
        print(f"rknn venv: building {venv} ({reason}); this downloads about 6 GB", flush=True)
        t0 = time.perf_counter()
        create(venv)
        reason = problem(venv)
        if reason is not None:
            raise SystemExit(f"rknn venv: {venv} is still unusable after installing: {reason}")
        print(f"rknn venv: built in {time.perf_counter() - t0:.0f} s")
    print(subprocess.run([str(venv / "bin" / "python"), "-c", CHECK], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
