"""`convlab npu study`: the quantization seeds' question on trained face models, in the RKNN simulator.

3DiVi (RK3568, RKNN-Toolkit2) found an all-int8 face recognition pipeline collapsing while a mostly
fp16 one held; Imagination found 8-bit detection confidence drifting most on small (far) faces and
8-bit verification unreliable on low-resolution faces. Here each face stage runs fp32 on the CPU
(convlab's engine, checked against onnxruntime) and in the simulator as fp16, int8, hybrid by the
toolkit's proposal and hybrid with the worst-K int8 layers kept in fp16, on photographs the int8
calibration did not see, and is judged by its task:

- detector (trained CenterFace, 5 landmarks): IoU-matched detection sets (F1), confidence relative
  error and recall per face-size bin, landmark NME (inter-ocular);
- fitter (trained MTCNN O-Net on 48x48 crops of the fp32 detector's faces): landmark NME;
- extractor (a trained one from convlab.realmodels when there is one, else the zoo's, untrained):
  template cosine and verification decisions flipped, on faces aligned with the fp32 landmarks, and as
  a cascade on faces aligned with the same-dtype detector's landmarks (the seeds' all-int8 pipeline).

Images: calibration from scikit-image photographs (astronaut, camera) and the first half of the LFW
faces in `skimage.data.lfw_subset()` (its first 100 images are faces, the rest are not); test from the
photographs in `$CONVLAB_CACHE/photos` when present (else the astronaut, then not calibrated on) and the
other half of the LFW faces, pasted at 16..96 px to cover the small faces. `calibration_images`,
`test_images` and `stage_models` are the places to point at new photographs and models.

Every time here is the simulator's wall time on this x86 host, not NPU latency.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from . import accuracy, calibration, compare, metrics, model_prep
from ..face.stages import Detections
from .convert import HEAVIEST_INT8_SHARE, ModelSession, Options, toolkit_or
from .errors import NpuError
from .pipeline import match_faces
from .toolkit import Toolkit, cache_dir

FILES = ("npu_real.json", "npu_real.md")
CANVAS = (480, 800)                 # CenterFace's input, H x W
LFW_FACES = 100                     # lfw_subset(): images 0..99 are faces, 100..199 are not
MOSAIC_SIDES = (16, 24, 32, 48, 64, 96)
PHOTO_SCALES = (1.0, 0.5, 0.25)     # of the letterbox fit; smaller copies are tiled over the canvas
IOU = 0.5
SCORE_THRESHOLD = 0.5               # the face pipeline's detector defaults
NMS_IOU = 0.4
MAX_FACES = 1000                  # above any image's face count: a cap would make the sets differ at its edge
DETECTOR, FITTER = "centerface", "mtcnn_onet"
SIM = "RKNN-Toolkit2 simulator on an x86 host"


@dataclass(frozen=True)
class Variant:
    key: str
    dtype: str
    auto: str | None = None         # hybrid: "proposal" or "worst"

    def label(self, worst: int) -> str:
        return {None: self.dtype, "proposal": "hybrid (toolkit proposal)",
                "worst": f"hybrid (worst {worst} int8 layers in fp16)",
                "heaviest": f"hybrid (int8 only in the heaviest layers, {HEAVIEST_INT8_SHARE:.0%} of MACs)"}[self.auto]


VARIANTS = (Variant("fp16", "fp16"), Variant("int8", "int8"), Variant("hybrid_proposal", "hybrid", "proposal"),
            Variant("hybrid_worst", "hybrid", "worst"), Variant("hybrid_heaviest", "hybrid", "heaviest"))


@dataclass(frozen=True)
class Image:
    name: str
    rgb: np.ndarray                 # CANVAS-sized uint8 RGB: what the detector sees


# --- images ----------------------------------------------------------------------------------------

def _resize(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image as PILImage
    return np.asarray(PILImage.fromarray(rgb).resize((w, h), PILImage.BICUBIC))


def canvas(rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The photo letterboxed onto the detector's canvas at `scale` of the fit, whole copies tiled over it."""
    ch, cw = CANVAS
    h, w = rgb.shape[:2]
    s = min(cw / w, ch / h) * scale
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = _resize(rgb, nw, nh)
    out = np.zeros((ch, cw, 3), np.uint8)
    for y in range(0, ch - nh + 1, nh):
        for x in range(0, cw - nw + 1, nw):
            out[y:y + nh, x:x + nw] = small
    return out


def lfw_faces(indices) -> list[np.ndarray]:
    """LFW faces of skimage.data.lfw_subset() (25x25 grey, 0..1) as RGB uint8."""
    import skimage.data
    faces = skimage.data.lfw_subset()[:LFW_FACES]
    return [np.repeat(np.round(faces[i] * 255).astype(np.uint8)[:, :, None], 3, axis=2) for i in indices]


def mosaic(faces: list[np.ndarray], side: int) -> np.ndarray:
    """Faces upscaled to side x side on a mid-grey canvas, one per 2*side cell, as many as fit."""
    ch, cw = CANVAS
    out = np.full((ch, cw, 3), 128, np.uint8)
    cells = [(y, x) for y in range(side // 2, ch - side, 2 * side) for x in range(side // 2, cw - side, 2 * side)]
    for (y, x), face in zip(cells, faces):
        out[y:y + side, x:x + side] = _resize(face, side, side)
    return out


def cached_photos(directory: Path | None = None) -> list[tuple[str, np.ndarray]]:
    """The photographs in `directory`, else under $CONVLAB_CACHE/photos (`convlab photos fetch`; none if
    that is absent), sorted by name."""
    from ..face.image import load_image
    if directory is None:
        directory = cache_dir() / "photos"
        if not directory.is_dir():
            return []
    elif not directory.is_dir():
        raise NpuError(f"photo folder {directory} does not exist or is not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in calibration.IMAGE_SUFFIXES)
    if not files:
        raise NpuError(f"photo folder {directory} holds no images ({', '.join(calibration.IMAGE_SUFFIXES)})")
    return [(p.stem, load_image(p)) for p in files]


def _skimage(name: str) -> np.ndarray:
    from ..face.image import builtin_image
    return builtin_image(name)


def calibration_images(quick: bool, held_out_astronaut: bool) -> list[Image]:
    """Detector calibration: camera (and the astronaut unless the test set needs it) at two scales and the
    first half of the LFW faces in mosaics."""
    names = ["camera"] + ([] if held_out_astronaut else ["astronaut"])
    faces = lfw_faces(range(LFW_FACES // 2))
    if quick:
        return [Image("camera@1", canvas(_skimage("camera"))), Image("lfw-calib@48", mosaic(faces, 48))]
    return ([Image(f"{n}@{s:g}", canvas(_skimage(n), s)) for n in names for s in (1.0, 0.5)]
            + [Image(f"lfw-calib@{side}", mosaic(faces, side)) for side in (24, 48, 96)])


def test_images(quick: bool, photos: list[tuple[str, np.ndarray]]) -> list[Image]:
    """Held-out images: each photograph at PHOTO_SCALES, the other half of the LFW faces at MOSAIC_SIDES."""
    faces = lfw_faces(range(LFW_FACES // 2, LFW_FACES))
    if quick:
        name, rgb = photos[0]
        return [Image(f"{name}@1", canvas(rgb)), Image("lfw-test@48", mosaic(faces, 48))]
    return ([Image(f"{name}@{s:g}", canvas(rgb, s)) for name, rgb in photos for s in PHOTO_SCALES]
            + [Image(f"lfw-test@{side}", mosaic(faces, side)) for side in MOSAIC_SIDES])


# --- models ----------------------------------------------------------------------------------------

def trained_extractor() -> str | None:
    from .. import realmodels
    return next((m.name for m in realmodels.MODELS.values() if m.role == "extractor"), None)


def stage_models(workdir: Path) -> dict[str, dict]:
    """Per stage: the model argument for ModelSession, its name in the report and whether it is trained. The
    extractor is the first trained one convlab.realmodels lists, else the zoo's (written to workdir)."""
    models = {"detector": {"model": model_prep.BUILTIN + DETECTOR, "trained": True},
              "fitter": {"model": model_prep.BUILTIN + FITTER, "trained": True}}
    trained = trained_extractor()
    if trained:
        models["extractor"] = {"model": model_prep.BUILTIN + trained, "trained": True}
    else:
        import onnx

        from ..face.models import zoo_model
        model, spec = zoo_model("extractor")
        path = workdir / "zoo_extractor.onnx"
        onnx.save(model, str(path))
        spec.save(path.with_suffix(".json"))
        models["extractor"] = {"model": str(path), "name": "zoo:extractor", "trained": False,
                               "note": "no trained extractor in convlab.realmodels: the zoo extractor "
                                       "(seeded, untrained) stands in"}
    return models


def _detector_stage(session: ModelSession, backend: str):
    """The face pipeline's detector stage over the prepared model, with its spec's decoding."""
    from ..face.runners import make_runner
    from ..face.specs import stage_spec
    from ..face.stages import Detector
    runner = make_runner("convlab", session.model.path, backend=backend)
    return Detector(runner, stage_spec(session.spec), score_threshold=SCORE_THRESHOLD, nms_iou=NMS_IOU,
                    top_k=5 * MAX_FACES, max_faces=MAX_FACES)


def fitter_points(out: np.ndarray, point_layout: str) -> np.ndarray:
    """A fitter's 10 values -> (5, 2) points: "xy" pairs, or "planar" (all x, then all y: MTCNN)."""
    out = np.asarray(out, np.float64).ravel()
    return out.reshape(2, 5).T if point_layout == "planar" else out.reshape(5, 2)


def fitter_crop(rgb: np.ndarray, box, size: int, transposed: bool) -> np.ndarray:
    """A fitter's size x size input for a face box: the square around the box (MTCNN's O-Net input),
    transposed for a network that sees rows and columns swapped (the spec's `transposed`)."""
    from ..face.align import box_to_crop_matrix, warp_affine
    x1, y1, x2, y2 = (float(v) for v in box)
    half = max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    crop = warp_affine(rgb, box_to_crop_matrix((cx - half, cy - half, cx + half, cy + half), (size, size)),
                       (size, size))
    return crop.transpose(1, 0, 2) if transposed else crop


# --- one model through every variant ---------------------------------------------------------------

def _output_cosines(names, refs, got) -> dict:
    return {n: min(accuracy.output_errors(r[n], g[n])["cosine"] for r, g in zip(refs, got)) for n in names}


def evaluate(session: ModelSession, pixels: np.ndarray, backend: str, worst: int, variants=VARIANTS,
             extra=None) -> dict:
    """fp32 CPU outputs (convlab's engine, checked against onnxruntime) and each variant's simulator
    outputs on `pixels` (N, C, H, W), plus .rknn size, conversion and per-image simulator times, and the
    toolkit's per-layer analysis of int8. extra(variant key) -> more pixels that variant alone runs
    (after the common ones)."""
    inp, names = session.model.input, session.model.output_names
    files = calibration.write_npy(pixels, session.dir / "inputs", "input")
    cpu, ort_out = compare.cpu_outputs(session.model.path, inp.name, compare.normalise(pixels, inp.mean, inp.std),
                                       backend)
    out = {"inputs": len(pixels), "cpu_vs_onnxruntime": {
        n: {"cosine": min(accuracy.output_errors(o[n], c[n])["cosine"] for o, c in zip(ort_out, cpu)),
            "max_abs": max(accuracy.output_errors(o[n], c[n])["max_abs"] for o, c in zip(ort_out, cpu))}
        for n in names}, "cpu": cpu, "variants": {}}
    from ..progress import bar
    for v in bar(variants, desc=f"{session.source.stem} in the simulator", unit="variant"):
        more = extra(v.key) if extra else np.zeros((0,) + pixels.shape[1:], np.float32)
        # Another stem than the common inputs': the worker names each output after its input's file.
        more_files = calibration.write_npy(more, session.dir / f"extra_{v.key}", "extra") if len(more) else []
        layers, selection = (session.hybrid_plan(files[0], auto=v.auto, worst_count=worst) if v.dtype == "hybrid"
                             else ((), None))
        rknn = session.dir / f"{session.source.stem}.{v.key}.rknn"
        t0 = time.perf_counter()
        r = session.build(v.dtype, fp16_layers=layers, strict_layers=False, export=rknn, inputs=files + more_files,
                          analyse=files[0] if v.dtype == "int8" else None)
        seconds = time.perf_counter() - t0
        got = [dict(zip(names, (np.load(p) for p in outs))) for outs in r["outputs"]]
        out["variants"][v.key] = {
            "label": v.label(worst), "dtype": v.dtype, "outputs": got[:len(files)], "extra_outputs": got[len(files):],
            "output_cosine_min": _output_cosines(names, cpu, got), "rknn_bytes": rknn.stat().st_size,
            "fp16_layers": r["fp16_layers"], "hybrid_selection": selection,
            "build_seconds": round(seconds - sum(r["infer_seconds"]) - r.get("analysis_seconds", 0.0), 2),
            "analysis_seconds": round(r["analysis_seconds"], 2) if "analysis_seconds" in r else None,
            "simulator_seconds_per_image": round(float(np.median(r["infer_seconds"])), 3) if r["infer_seconds"] else None,
            "worst_int8_layers": accuracy.worst_layers(r["layers"], 5) if r.get("layers") else None,
            "toolkit_warnings": len(r["warnings"])}
        rknn.unlink()
    return out


def _public(model_result: dict) -> dict:
    """A model's result without the raw output arrays (those stay in memory)."""
    keep = {k: v for k, v in model_result.items() if k != "cpu"}
    keep["variants"] = {k: {f: x for f, x in v.items() if f not in ("outputs", "extra_outputs")}
                        for k, v in model_result["variants"].items()}
    return keep


def _pixels(images, inp) -> np.ndarray:
    return np.stack([calibration.chw_pixels(im, inp) for im in images]).astype(np.float32)


def _session(tk: Toolkit, model: str, calib_images, workdir: Path) -> ModelSession:
    """A ModelSession whose int8 calibration set is calib_images(model input spec) -> RGB images."""
    probe = ModelSession(tk, model, Options())
    folder = workdir / f"calib_{probe.source.stem}"
    calibration.write_npy(_pixels(calib_images(probe.model.input), probe.model.input), folder, "calib")
    return ModelSession(tk, model, Options(calib=str(folder)))


# --- the study -------------------------------------------------------------------------------------

def _by_size(sides, values) -> dict:
    """values (one per face) summarised per face-size bin."""
    return {label: metrics.stats(v for s, v in zip(sides, values) if metrics.size_bin(s) == label)
            for label in metrics.size_labels()}


def _decoded(detector, outputs) -> Detections:
    return Detections(*detector.detect(outputs))


@dataclass(frozen=True)
class Face:
    image: Image
    box: np.ndarray
    landmarks: np.ndarray


def _faces(images: list[Image], detections: list[Detections]) -> list[Face]:
    return [Face(im, b, lm) for im, d in zip(images, detections) for b, lm in zip(d.boxes, d.landmarks)]


def _fitter(tk, model, calib_faces, lfw_calib, test_faces, backend, worst, workdir) -> dict:
    from ..face.specs import stage_spec
    spec = stage_spec(model_prep.resolve(model)[1])
    size = spec.input.size[0]

    def crops(faces):
        return [fitter_crop(f.image.rgb, f.box, size, spec.transposed) for f in faces]

    session = _session(tk, model, lambda inp: crops(calib_faces) + [
        fitter_crop(face, (0, 0, face.shape[1], face.shape[0]), size, spec.transposed) for face in lfw_calib], workdir)
    result = evaluate(session, _pixels(crops(test_faces), session.model.input), backend, worst)
    sides = [metrics.face_side(f.box) for f in test_faces]
    agreement = {}
    for key, v in result["variants"].items():
        nme = [metrics.interocular_nme(fitter_points(r[spec.output], spec.point_layout),
                                       fitter_points(g[spec.output], spec.point_layout))
               for r, g in zip(result["cpu"], v["outputs"])]
        agreement[key] = {"landmark_nme": metrics.stats(nme), "by_size": _by_size(sides, nme)}
    return {"model": model, "trained": True, "landmarks_output": spec.output, **_public(result),
            "agreement": agreement}


def _extractor(tk, model: dict, calib_faces, lfw_calib, test_faces, cascades, backend, worst, workdir) -> dict:
    """cascades: {variant key: (indices into test_faces, landmarks from that variant's detector)}."""
    from ..face.align import align_face
    from ..face.compare import l2_normalise

    def aligned(inp, faces):
        return [align_face(f.image.rgb, f.landmarks, (inp.height, inp.width))[0] for f in faces]

    session = _session(tk, model["model"], lambda inp: aligned(inp, calib_faces)
                       + [_resize(face, inp.width, inp.height) for face in lfw_calib], workdir)
    inp = session.model.input
    out = session.spec.decoding["output"]

    def cascade(key):
        idx, lms = cascades.get(key, ([], []))
        faces = [Face(test_faces[i].image, test_faces[i].box, lm) for i, lm in zip(idx, lms)]
        return _pixels(aligned(inp, faces), inp) if faces else np.zeros((0, 3, inp.height, inp.width), np.float32)

    result = evaluate(session, _pixels(aligned(inp, test_faces), inp), backend, worst, extra=cascade)
    ref = [l2_normalise(o[out]) for o in result["cpu"]]
    # A trained extractor's own operating point (its spec's same_threshold, measured by `convlab study
    # verify`) is the decision a user makes; without one, the median pair splits the pairs in half.
    measured = session.spec.decoding.get("same_threshold")
    threshold = float(measured) if measured is not None else metrics.pair_threshold(ref)
    how = ("the extractor's measured same_threshold (its spec; `convlab study verify`)" if measured is not None
           else "median fp32 pair cosine (metrics.pair_threshold)")
    sides = [metrics.face_side(f.box) for f in test_faces]
    agreement = {}
    for key, v in result["variants"].items():
        got = [l2_normalise(o[out]) for o in v["outputs"]]
        row = {**metrics.verification(ref, got, threshold),
               "template_cosine_by_size": _by_size(sides, [float(a @ b) for a, b in zip(ref, got)])}
        if key in cascades:
            idx = cascades[key][0]
            row["cascade"] = {**metrics.verification([ref[i] for i in idx],
                                                     [l2_normalise(o[out]) for o in v["extra_outputs"]], threshold),
                              "faces_lost_by_detector": len(ref) - len(idx)}
        agreement[key] = row
    return {"model": model.get("name", model["model"]), "trained": model["trained"], "note": model.get("note"), "output": out,
            "threshold": {"value": threshold, "how": how},
            **_public(result), "agreement": agreement}


def _cascades(tests, ref: list[Detections], variants: dict[str, list[Detections]], test_faces) -> dict:
    """Per detector variant: the test faces it found (indices into test_faces) and its landmarks for them."""
    start = np.cumsum([0] + [len(d.boxes) for d in ref])
    out = {}
    for key, dets in variants.items():
        idx, lms = [], []
        for k, (r, g) in enumerate(zip(ref, dets)):
            for i, j, _ in match_faces(r.boxes.reshape(-1, 4), g.boxes.reshape(-1, 4), IOU):
                idx.append(int(start[k] + i))
                lms.append(g.landmarks[j])
        order = np.argsort(idx)
        out[key] = ([idx[o] for o in order], [lms[o] for o in order])
    return out


def run(out_dir: Path | None = None, quick: bool = False, *, photos_dir: Path | None = None,
        backend: str | None = None, worst: int = 3, toolkit: Toolkit | None = None) -> dict:
    """Measure, write FILES atomically into out_dir (when given) and return the report. quick: the
    fitter only, on two test images, to check the study runs (its figures mean little)."""
    from .. import realmodels
    from ..registry import resolve_backend
    backend = resolve_backend(backend)
    for name in filter(None, (DETECTOR, FITTER, trained_extractor())):
        realmodels.path(name)       # before the toolkit starts: a missing model says how to fetch it
    photos = cached_photos(photos_dir)
    held_out_astronaut = not photos
    if held_out_astronaut:
        photos = [("astronaut", _skimage("astronaut"))]
    calib_images, tests = calibration_images(quick, held_out_astronaut), test_images(quick, photos)
    t_start = time.perf_counter()
    report = {"quick": quick, "where": SIM, "backend": backend, "worst_k": worst,
              "images": {"calibration": [im.name for im in calib_images], "test": [im.name for im in tests],
                         "photos": "none cached: the skimage astronaut, held out of calibration"
                         if held_out_astronaut else str(photos_dir or cache_dir() / "photos")},
              "stages": {}}
    with toolkit_or(toolkit) as tk:
        workdir = Path(tk.workdir)
        models = stage_models(workdir)
        report["toolkit"] = tk.info
        det_session = _session(tk, models["detector"]["model"], lambda inp: [im.rgb for im in calib_images], workdir)
        detector = _detector_stage(det_session, backend)
        ref = [_decoded(detector, detector.run(im.rgb)) for im in tests]
        calib_faces = _faces(calib_images, [_decoded(detector, detector.run(im.rgb)) for im in calib_images])
        test_faces = _faces(tests, ref)
        if not test_faces:
            raise NpuError("the fp32 detector found no face in the test images: the fitter and extractor have "
                           "nothing to run on")
        lfw_calib = lfw_faces(range(LFW_FACES // 2))
        cascades = {}
        if not quick:
            result = evaluate(det_session, _pixels([im.rgb for im in tests], det_session.model.input), backend, worst)
            found = {key: [_decoded(detector, o) for o in v["outputs"]] for key, v in result["variants"].items()}
            report["stages"]["detector"] = {
                "model": models["detector"]["model"], "trained": True, **_public(result),
                "agreement": {key: metrics.summarise_detections([metrics.detection_agreement(r, g, IOU)
                                                                 for r, g in zip(ref, dets)])
                              for key, dets in found.items()}}
            cascades = _cascades(tests, ref, found, test_faces)
        report["stages"]["fitter"] = _fitter(tk, models["fitter"]["model"], calib_faces, lfw_calib, test_faces,
                                             backend, worst, workdir)
        if not quick:
            report["stages"]["extractor"] = _extractor(tk, models["extractor"], calib_faces, lfw_calib, test_faces,
                                                       cascades, backend, worst, workdir)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    report["seeds"] = seed_rows(report)
    report["finding"] = finding(report)
    report["machine"], report["platform"] = platform.machine(), platform.platform()
    if out_dir is not None:
        write(report, Path(out_dir))
    return report


# --- the seeds' figures and the report -------------------------------------------------------------

_3DIVI = "3DiVi, RK3568 + RKNN-Toolkit2 (../shared/seeds/001_49f5c0837d744a78.txt)"
_IMG = "Imagination, PowerVR, LFFD + ArcFace (../shared/seeds/002_04a2aef03f3e24ce.txt)"
SEEDS = [
    {"source": _3DIVI, "claim": "fp16 (the default mode)", "figure": "minimal (often negligible) accuracy loss"},
    {"source": _3DIVI, "claim": "all-int8 pipeline", "figure": "recognition accuracy dropped to almost zero"},
    {"source": _3DIVI, "claim": "what shipped", "figure": "fitter in fp16, only the heaviest part of the extractor "
                                                          "in int8: minimal quality drop on LFW"},
    {"source": _IMG, "claim": "detector boxes, fp32 / 16-bit / 8-bit", "figure": "match closely"},
    {"source": _IMG, "claim": "detector false positives", "figure": "fp32 1, 16-bit 1 (the same), 8-bit 2 (1 the same)"},
    {"source": _IMG, "claim": "detection confidence relative error", "figure": "grows for faces far from the camera "
                                                                               "(small faces), 8-bit most"},
    {"source": _IMG, "claim": "verification on low-resolution faces", "figure": "8-bit not recommended; 16-bit or "
                                                                                "per-channel quantization instead"},
    {"source": _IMG, "claim": "GoogLeNet, 1000 ImageNet images", "figure": "top-1 fp32 65.2%, int8 63.8%, overlap of "
                                                                          "the correct sets 87.1%"},
]


def seed_rows(report: dict) -> list[dict]:
    """SEEDS with convlab's figure for the same claim beside each ("-" where this study has none)."""
    st = report["stages"]
    det, fit, ext = (st.get(k, {}).get("agreement") for k in ("detector", "fitter", "extractor"))
    extractor = "" if not ext else ("trained extractor" if st["extractor"]["trained"] else "UNTRAINED zoo extractor")

    def per(a, fn):
        return "; ".join(f"{k} {fn(x)}" for k, x in a.items())

    def flips(x):
        return f"{x['decisions_flipped']}/{x['pairs']} flipped, template cos min {_f(x['template_cosine']['min'], '.3f')}"

    def ends(by_size, fn):
        rows = [(b, x) for b, x in by_size.items() if fn(x) is not None]
        return f"{rows[0][0]} px {_f(fn(rows[0][1]))} vs {rows[-1][0]} px {_f(fn(rows[-1][1]))}" if rows else "-"

    convlab = [
        " / ".join(filter(None, [
            det and f"detector F1 {det['fp16']['detection_f1']:.3f}",
            fit and f"fitter NME {_f(fit['fp16']['landmark_nme']['mean'])}",
            ext and f"{extractor}: {flips(ext['fp16'])}"])) or "-",
        f"{extractor}, cascaded behind the int8 detector: {flips(ext['int8']['cascade'])}"
        if ext and "cascade" in ext["int8"] else "-",
        " / ".join(filter(None, [
            fit and f"fitter fp16 NME {_f(fit['fp16']['landmark_nme']['mean'])}",
            ext and f"{extractor}: " + per({k: v for k, v in ext.items() if k.startswith("hybrid")}, flips)])) or "-",
        per(det, lambda x: f"F1 {x['detection_f1']:.3f}, IoU {_f(x['iou']['mean'], '.3f')}") if det else "-",
        per(det, lambda x: f"{x['faces_npu'] - x['matched']} detections fp32 lacks "
                           f"(of {x['faces_npu']})") if det else "-",
        per(det, lambda x: ends(x["by_size"], lambda b: b["conf_rel_error"]["mean"])) if det else "-",
        f"{extractor}, template cosine by face size: "
        + per(ext, lambda x: ends(x["template_cosine_by_size"], lambda b: b["mean"])) if ext else "-",
        "- (no classifier in this study)",
    ]
    return [{**seed, "convlab": c} for seed, c in zip(SEEDS, convlab)]


def _f(v, fmt=".4f") -> str:
    return "-" if v is None else format(v, fmt)


def _variants(stage: dict):
    return stage["variants"].items()


INTACT = 0.005      # a hybrid keeps the decisions when it is within this of fp16 (F1, flipped fraction)
SMALL, LARGE = ("<16", "16-32"), ("64-128", ">=128")


def _pooled(by_size: dict, bins, metric: str):
    """A per-bin metric's mean over the faces of several bins (weighted by the faces found)."""
    rows = [by_size[b] for b in bins if by_size[b]["found"] and by_size[b][metric]["mean"] is not None]
    n = sum(r["found"] for r in rows)
    return sum(r[metric]["mean"] * r["found"] for r in rows) / n if n else None


def small_faces(by_size: dict) -> dict:
    """Imagination's claim on one variant: faces under 32 px lost more often, and their confidence error larger
    (more than 1.5x), than faces of 64 px and up."""
    recall = {k: [by_size[b]["recall"] for b in bins if by_size[b]["recall"] is not None]
              for k, bins in (("small", SMALL), ("large", LARGE))}
    err = {k: _pooled(by_size, bins, "conf_rel_error") for k, bins in (("small", SMALL), ("large", LARGE))}
    lost = bool(recall["small"] and recall["large"]) and min(recall["small"]) < min(recall["large"])
    grows = None not in err.values() and err["small"] > 1.5 * err["large"]
    return {"recall_small": min(recall["small"], default=None), "recall_large": min(recall["large"], default=None),
            "conf_error_small": err["small"], "conf_error_large": err["large"], "small_lost_more": lost,
            "error_grows": grows}


def _intact_hybrids(stage: dict, value, higher_is_better: bool) -> str:
    """The hybrids within INTACT of fp16 on `value`, with how many layers each keeps in fp16."""
    a = stage["agreement"]
    ref = value(a["fp16"])
    ok = [k for k in a if k.startswith("hybrid")
          and (value(a[k]) >= ref - INTACT if higher_is_better else value(a[k]) <= ref + INTACT)]
    return ", ".join(f"{k} ({len(stage['variants'][k]['fp16_layers'])} layers fp16)" for k in ok) or "none"


def finding(report: dict) -> str:
    """One paragraph: what reproduces, what does not, and which hybrid keeps the decisions."""
    st, parts = report["stages"], []
    det, fit, ext = (st.get(k) for k in ("detector", "fitter", "extractor"))
    if det:
        a = det["agreement"]
        sf = small_faces(a["int8"]["by_size"])
        verdict = ("reproduced" if sf["small_lost_more"] and sf["error_grows"] else
                   "partly reproduced" if sf["small_lost_more"] or sf["error_grows"] else "not reproduced")
        parts.append(
            "Detector (trained CenterFace), detection F1 against fp32: "
            + ", ".join(f"{k} {x['detection_f1']:.3f}" for k, x in a.items())
            + f". Imagination's small-face finding is {verdict} for int8: faces under 32 px kept with recall "
            f"{_f(sf['recall_small'], '.2f')} (64 px and up {_f(sf['recall_large'], '.2f')}), confidence relative error "
            f"{_f(sf['conf_error_small'])} vs {_f(sf['conf_error_large'])}. Hybrids as good as fp16 (F1 within "
            f"{INTACT}): {_intact_hybrids(det, lambda x: x['detection_f1'], True)}.")
    if fit:
        a = fit["agreement"]
        parts.append("Fitter (trained O-Net), landmark NME (inter-ocular): "
                     + ", ".join(f"{k} {_f(x['landmark_nme']['mean'])}" for k, x in a.items())
                     + f"; the toolkit proposes {len(fit['variants']['hybrid_proposal']['fp16_layers'])} fp16 layers "
                     "for it.")
    if ext:
        a = ext["agreement"]
        kind = f"trained, {ext['model']}" if ext["trained"] else "UNTRAINED zoo"
        alone = {k: x["flipped_fraction"] for k, x in a.items()}
        cascaded = {k: x["cascade"]["flipped_fraction"] for k, x in a.items() if "cascade" in x}
        parts.append(f"Extractor ({kind}), verification decisions flipped against fp32 on faces aligned with the fp32 "
                     "landmarks: " + ", ".join(f"{k} {_f(v, '.3f')}" for k, v in alone.items())
                     + "; cascaded behind the same-dtype detector: "
                     + ", ".join(f"{k} {_f(v, '.3f')}" for k, v in cascaded.items())
                     + f"; hybrids as good as fp16 (within {INTACT}): "
                     + _intact_hybrids(ext, lambda x: x["flipped_fraction"], False) + ".")
        if ext["trained"] and cascaded:
            collapse = cascaded["int8"] > 0.25 and cascaded["fp16"] < 0.05
            parts.append("3DiVi's all-int8 collapse is " + ("reproduced" if collapse else "not reproduced") +
                         f" on this extractor: all-int8 flips {cascaded['int8']:.1%} of the decisions, fp16 "
                         f"{cascaded['fp16']:.1%} (int8 here: the toolkit's {Options().quant_algo} calibration, "
                         f"per-{Options().quant_method} weights; 3DiVi does not say theirs).")
        elif not ext["trained"]:
            parts.append("3DiVi's recognition collapse needs a trained extractor, which convlab does not have: "
                         "that half of the seed is neither reproduced nor refuted here (the untrained extractor's "
                         "flips show only how far its arithmetic moves).")
    return " ".join(parts) + f" ({SIM}; not NPU latency or board accuracy.)"


def markdown(report: dict) -> str:
    st, labels = report["stages"], metrics.size_labels()
    tag = f"{SIM}, backend {report['backend']}"
    out = [f"# NPU quantization on trained face models ({tag})\n",
           f"Toolkit {report['toolkit']['toolkit']}; all figures are the simulator's against fp32 on the CPU "
           f"(convlab engine), on {len(report['images']['test'])} test images the int8 calibration "
           f"({len(report['images']['calibration'])} images) did not see: {', '.join(report['images']['test'])}. "
           f"Photos: {report['images']['photos']}. Face size = sqrt(box area) in detector-input pixels (480x800)."
           + (" **Quick run: fitter only, figures mean little.**" if report["quick"] else "") + "\n"]
    det = st.get("detector")
    if det:
        out += ["## Detector: CenterFace (trained), detection sets and confidence by face size\n",
                "| variant | F1 | faces fp32 / npu / matched | conf rel err mean / max | landmark NME mean / max | "
                + " | ".join(f"{b} px: recall, conf err" for b in labels) + " |",
                "|---|---|---|---|---|" + "---|" * len(labels)]
        for key, v in _variants(det):
            a = det["agreement"][key]
            cells = [f"{_f(x['recall'], '.2f')}, {_f(x['conf_rel_error']['mean'])} (n={x['faces_fp32']})"
                     for x in a["by_size"].values()]
            out.append(f"| {v['label']} | {a['detection_f1']:.3f} | {a['faces_fp32']} / {a['faces_npu']} / {a['matched']} | "
                       f"{_f(a['conf_rel_error']['mean'])} / {_f(a['conf_rel_error']['max'])} | "
                       f"{_f(a['landmark_nme']['mean'])} / {_f(a['landmark_nme']['max'])} | " + " | ".join(cells) + " |")
        out.append("")
    fit = st.get("fitter")
    if fit:
        out += [f"## Fitter: MTCNN O-Net (trained), landmark NME (inter-ocular) on {fit['inputs']} detector crops\n",
                "| variant | NME mean | NME max | " + " | ".join(f"{b} px" for b in labels) + " |",
                "|---|---|---|" + "---|" * len(labels)]
        for key, v in _variants(fit):
            a = fit["agreement"][key]
            out.append(f"| {v['label']} | {_f(a['landmark_nme']['mean'])} | {_f(a['landmark_nme']['max'])} | "
                       + " | ".join(_f(x["mean"]) for x in a["by_size"].values()) + " |")
        out.append("")
    ext = st.get("extractor")
    if ext:
        kind = "trained" if ext["trained"] else "**untrained** (zoo)"
        out += [f"## Extractor: {ext['model']} ({kind}), templates and verification decisions\n",
                *([f"{ext['note']}.\n"] if ext.get("note") else []),
                f"Decisions: same person when cosine >= {ext['threshold']['value']:.4f} ({ext['threshold']['how']}), "
                "over every pair of test faces. Cascade: faces aligned with the same variant's detector landmarks "
                "(the seeds' all-quantized pipeline).\n",
                "| variant | template cos min / mean | flipped / pairs | cascade: cos min, flipped / pairs, faces lost | "
                + " | ".join(f"cos {b} px" for b in labels) + " |",
                "|---|---|---|---|" + "---|" * len(labels)]
        for key, v in _variants(ext):
            a = ext["agreement"][key]
            c = a.get("cascade")
            cas = (f"{_f(c['template_cosine']['min'])}, {c['decisions_flipped']} / {c['pairs']}, "
                   f"{c['faces_lost_by_detector']}") if c else "-"
            out.append(f"| {v['label']} | {_f(a['template_cosine']['min'])} / {_f(a['template_cosine']['mean'])} | "
                       f"{a['decisions_flipped']} / {a['pairs']} | {cas} | "
                       + " | ".join(_f(x["mean"]) for x in a["template_cosine_by_size"].values()) + " |")
        out.append("")
    out += ["## Per model: size, simulator time, the toolkit's worst int8 layers\n",
            "Times: the RKNN simulator's wall time on this x86 host (not the NPU's). Worst layers: the toolkit's "
            "per-layer accuracy analysis of the int8 build on one test input, lowest single-layer cosine.\n",
            "| model | trained | variant | .rknn bytes | layers in fp16 | convert s | simulator s/image | lowest output cosine | "
            "worst int8 layers (single cos; analysis s) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, stage in st.items():
        for key, v in _variants(stage):
            worst = v["worst_int8_layers"]
            worst_text = (", ".join(f"{r['layer']} ({r['single_cos']:.4f})" for r in worst[:3])
                          + f"; {v['analysis_seconds']} s" if worst else "")
            fp16 = {"fp16": "all", "int8": "0"}.get(key, str(len(v["fp16_layers"])))
            out.append(f"| {name}: {stage['model']} | {'yes' if stage['trained'] else 'no'} | {v['label']} | "
                       f"{v['rknn_bytes']} | {fp16} | {v['build_seconds']} | {_f(v['simulator_seconds_per_image'], '.3f')} | "
                       f"{_f(min(v['output_cosine_min'].values()), '.5f')} | {worst_text} |")
    out += ["", "fp32 CPU check, convlab engine vs onnxruntime (lowest cosine, max abs error over the test inputs): "
            + "; ".join(f"{name}: " + ", ".join(f"{o} {x['cosine']:.6f} / {x['max_abs']:.2g}"
                                               for o, x in stage["cpu_vs_onnxruntime"].items())
                        for name, stage in st.items()) + ".\n"]
    out += ["## The seeds' figures beside convlab's\n", f"convlab: {tag}.\n",
            "| source | claim | seed's figure | convlab |", "|---|---|---|---|"]
    out += [f"| {s['source']} | {s['claim']} | {s['figure']} | {s['convlab']} |" for s in report["seeds"]]
    out += ["", "## Finding\n", report["finding"], ""]
    return "\n".join(out)


def write(report: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = (out_dir / f for f in FILES)
    atomic_write(js, json.dumps(report, indent=1, default=float) + "\n")
    atomic_write(md, markdown(report))
    return js, md
