"""Where convlab reads its shipped data and where it writes a user's results.

Two places, never the same:

* **Shipped data** (read-only inputs): the measured decision tables `algo="auto"` reads, the
  regression baselines and the seed's reference figures. In a wheel they are package data
  (`convlab/_data/results/...`, copied there by setup.py); in a checkout or an editable install
  they are the repository's `results/` folder.
* **User output**: `./results/<device-id>/` of the current working directory, or the command's
  `--out`. Nothing there is overwritten without `--force`, a command never writes over one of its
  own input files, and the shipped data is never written at all.
"""
from __future__ import annotations

import os
from pathlib import Path

from .device import REPO_ROOT, RESULTS_DIR, device_id
from .errors import ConvlabError

_PACKAGED_RESULTS = Path(__file__).resolve().parent / "_data" / "results"       # a wheel install
_CHECKOUT_RESULTS = REPO_ROOT / "results"

DECISION_TABLE_ENV = "CONVLAB_DECISION_TABLE"


def shipped_results_dir() -> Path:
    """The shipped results/ folder: package data in a wheel, the repository's results/ in a checkout."""
    return RESULTS_DIR


def shipped_device_dir(device: str | None = None) -> Path:
    return shipped_results_dir() / (device or device_id())


def shipped_decision_table(device: str | None = None) -> Path:
    return shipped_device_dir(device) / "decision.json"


def reference_dir() -> Path:
    """The seed's own figures (results/reference/*.csv)."""
    return shipped_results_dir() / "reference"


def user_results_dir(out: str | os.PathLike | None = None, device: str | None = None) -> Path:
    """--out, else ./results/<device-id>/ of the current working directory."""
    if out:
        return Path(out)
    return Path.cwd() / "results" / (device or device_id())


def is_shipped(path: str | os.PathLike) -> bool:
    """True for a path inside the shipped results (a committed input: never written)."""
    p = Path(path).resolve()
    for root in {_PACKAGED_RESULTS, _CHECKOUT_RESULTS}:
        try:
            p.relative_to(root.resolve())
        except ValueError:
            continue
        if root == _CHECKOUT_RESULTS and not _is_committed(p):
            continue
        return True
    return False


def _is_committed(p: Path) -> bool:
    """In a checkout only the files git tracks are shipped; a new file under results/ is the user's
    (outside git, e.g. an unpacked sdist, every existing file there is shipped)."""
    import subprocess
    if not p.parent.is_dir():
        return False
    try:
        r = subprocess.run(["git", "ls-files", "--error-unmatch", p.name], cwd=p.parent, capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return p.exists()
    if r.returncode != 0 and "not a git repository" in r.stderr:
        return p.exists()
    return r.returncode == 0


def _inside(p, root: Path) -> bool:
    try:
        Path(p).resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(path: str | os.PathLike, *, force: bool = False, inputs=(), what: str = "output",
                 allow_shipped: bool = True) -> Path:
    """Refuse to write `path` when it is one of `inputs`, exists without `force` (a committed result
    of the checkout included: --force is how a maintainer refreshes one), or is shipped data that
    may never be written (package data of an install; `allow_shipped=False`: any shipped file).
    Makes sure its folder can be created and written. Call before the long work."""
    path = Path(path)
    for i in inputs:
        if i is not None and os.path.exists(i) and same_file(path, i):
            raise ConvlabError(f"{what} {path} is also an input: refusing to overwrite it (choose another file)")
    packaged = _inside(path, _PACKAGED_RESULTS)
    if packaged or (not allow_shipped and is_shipped(path)):
        raise ConvlabError(f"{what} {path} is convlab's shipped data, a read-only input: write elsewhere "
                           "(--out, or run from another working directory)")
    if path.exists() and not force:
        raise ConvlabError(f"{path} exists: pass --force to overwrite it")
    check_writable_dir(path.parent, what=what)
    return path


def check_writable_dir(d: str | os.PathLike, what: str = "output") -> Path:
    """The folder exists and is writable, or can be created (its nearest existing parent is writable)."""
    d = Path(d) if str(d) else Path(".")
    probe = d
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConvlabError(f"{what} folder {d}: {probe} exists and is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConvlabError(f"{what} folder {d}: {probe} is not writable")
    return d


def check_existing_dir(d: str | os.PathLike, what: str = "output") -> Path:
    """The folder must already exist and be writable (for a single output file the user named)."""
    d = Path(d) if str(d) else Path(".")
    if not d.is_dir():
        raise ConvlabError(f"{what}: folder {d} does not exist")
    if not os.access(d, os.W_OK | os.X_OK):
        raise ConvlabError(f"{what}: folder {d} is not writable")
    return d
