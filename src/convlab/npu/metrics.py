"""Task-level agreement between a stage's fp32 CPU outputs and its NPU outputs, as the quantization
seeds judge it: detection sets matched by IoU (not only counted), detection confidence relative
error against face size (the Imagination study's small-face finding), landmark NME normalised by the
inter-ocular distance, template cosine and verification decisions flipped.

Face size is the side of the square with the box's area (sqrt(w * h)) in the detector's input
pixels, binned by SIZE_EDGES.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..face.compare import cosine
from .pipeline import match_faces

SIZE_EDGES = (16, 32, 64, 128)
EYES = (0, 1)       # the 5-point order of CenterFace, MTCNN and ArcFace: left eye, right eye, nose, mouth


def face_side(box) -> float:
    x1, y1, x2, y2 = (float(v) for v in box)
    return math.sqrt(max((x2 - x1) * (y2 - y1), 0.0))


def size_labels(edges=SIZE_EDGES) -> list[str]:
    return [f"<{edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]}"]


def size_bin(side: float, edges=SIZE_EDGES) -> str:
    """The label of the bin holding a face of this side: bins are [lo, hi) in pixels."""
    return size_labels(edges)[int(np.searchsorted(np.asarray(edges, np.float64), side, side="right"))]


def interocular_nme(ref: np.ndarray, got: np.ndarray) -> float:
    """Mean point distance over the reference's inter-ocular distance (NaN when the eyes coincide)."""
    ref, got = np.asarray(ref, np.float64).reshape(-1, 2), np.asarray(got, np.float64).reshape(-1, 2)
    iod = float(np.linalg.norm(ref[EYES[0]] - ref[EYES[1]]))
    return float(np.linalg.norm(ref - got, axis=1).mean() / iod) if iod > 0 else float("nan")


def detection_agreement(ref, got, iou_min: float = 0.5) -> dict:
    """One image: ref and got are face.stages.Detections-like (boxes, scores, landmarks or None).
    Per reference face: its side, whether the NPU found it, and for a found one the confidence
    relative error and the landmark NME."""
    matched = match_faces(np.asarray(ref.boxes).reshape(-1, 4), np.asarray(got.boxes).reshape(-1, 4), iou_min)
    pairs = {i: j for i, j, _ in matched}
    ious = {i: iou for i, _, iou in matched}
    faces = []
    for i, box in enumerate(np.asarray(ref.boxes).reshape(-1, 4)):
        face = {"side": round(face_side(box), 1), "found": i in pairs}
        if i in pairs:
            j = pairs[i]
            face["iou"] = ious[i]
            face["rel_error"] = abs(float(got.scores[j]) - float(ref.scores[i])) / max(abs(float(ref.scores[i])), 1e-12)
            if ref.landmarks is not None and got.landmarks is not None:
                face["nme"] = interocular_nme(ref.landmarks[i], got.landmarks[j])
        faces.append(face)
    extra = [round(face_side(b), 1) for j, b in enumerate(np.asarray(got.boxes).reshape(-1, 4))
             if j not in pairs.values()]
    return {"faces_fp32": len(faces), "faces_npu": len(got.boxes), "matched": len(pairs), "faces": faces,
            "extra_sides": extra}


def stats(values) -> dict:
    v = [x for x in values if x is not None and not math.isnan(x)]
    return {"mean": float(np.mean(v)) if v else None, "max": float(np.max(v)) if v else None}


def summarise_detections(images: list[dict], edges=SIZE_EDGES) -> dict:
    """Totals over images (detection F1 over the pooled sets) and, per face-size bin, how many fp32
    faces the NPU found and its confidence error and landmark NME on them."""
    ref = sum(im["faces_fp32"] for im in images)
    got = sum(im["faces_npu"] for im in images)
    matched = sum(im["matched"] for im in images)
    faces = [f for im in images for f in im["faces"]]
    by_size = {}
    for label in size_labels(edges):
        mine = [f for f in faces if size_bin(f["side"], edges) == label]
        found = [f for f in mine if f["found"]]
        by_size[label] = {"faces_fp32": len(mine), "found": len(found),
                          "recall": len(found) / len(mine) if mine else None,
                          "conf_rel_error": stats(f["rel_error"] for f in found),
                          "landmark_nme": stats(f.get("nme") for f in found),
                          "extra_npu": sum(size_bin(s, edges) == label for im in images for s in im["extra_sides"])}
    return {"faces_fp32": ref, "faces_npu": got, "matched": matched,
            "detection_f1": 1.0 if ref + got == 0 else 2 * matched / (ref + got),
            "iou": stats(f.get("iou") for f in faces),
            "conf_rel_error": stats(f.get("rel_error") for f in faces),
            "landmark_nme": stats(f.get("nme") for f in faces), "by_size": by_size}


def verification(ref_templates, got_templates, threshold: float) -> dict:
    """Template cosine (fp32 vs NPU, per face) and the same-person decisions over every pair of faces
    (cosine >= threshold) that the NPU templates decide differently from the fp32 ones."""
    cos = [cosine(a, b) for a, b in zip(ref_templates, got_templates)]
    flips = [(cosine(ref_templates[i], ref_templates[k]) >= threshold) !=
             (cosine(got_templates[i], got_templates[k]) >= threshold)
             for i, k in itertools.combinations(range(len(ref_templates)), 2)]
    return {"faces": len(cos), "template_cosine": {"min": float(min(cos)) if cos else None,
                                                   "mean": float(np.mean(cos)) if cos else None},
            "pairs": len(flips), "decisions_flipped": int(sum(flips)),
            "flipped_fraction": float(np.mean(flips)) if flips else None, "threshold": threshold}


def pair_threshold(templates) -> float:
    """The median cosine over every pair of fp32 templates: a threshold that splits the pairs in half, so
    flips can happen both ways whatever the extractor's own scale (an untrained one has no calibrated
    same-person threshold)."""
    cos = [cosine(a, b) for a, b in itertools.combinations(templates, 2)]
    return float(np.median(cos)) if cos else 0.5
