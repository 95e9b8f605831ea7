"""The three network stages: each binds a runner to its spec and owns its pre- and post-processing."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..postprocess import detect_postprocess
from ..postprocess.nms import nms
from ..postprocess.topk import select_top_k
from .align import align_face, apply_affine, box_to_crop_matrix, invert_affine, warp_affine
from .compare import l2_normalise
from .errors import ModelSpecError
from .heatmap_decode import decode_heatmap
from .specs import HeatmapSpec, InputSpec, SSDSpec, StageSpec


@dataclass
class Detections:
    """Faces in image pixel coordinates, best first: boxes (N, 4) x1 y1 x2 y2, scores (N,), landmarks (N, 5, 2) or None."""
    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None


def to_tensor(hwc: np.ndarray, spec: InputSpec) -> np.ndarray:
    """HxWx3 RGB pixels (0..255) -> the float32 batch of one the network expects."""
    x = np.asarray(hwc, np.float32)
    if spec.channel_order == "BGR":
        x = x[:, :, ::-1]
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32)


def clip_to_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Each face's points clipped into its own box (the pipeline's landmarks-inside-box invariant)."""
    lo, hi = boxes[:, None, :2], boxes[:, None, 2:]
    return np.clip(points, lo, hi)


class Network:
    """A runner plus the spec describing its input and outputs; checks they agree at construction."""

    def __init__(self, runner, spec: StageSpec, expected_role: str):
        if spec.role != expected_role:
            raise ModelSpecError(f"a {spec.role} spec was given for the {expected_role} stage")
        if spec.input.name not in runner.input_names:
            raise ModelSpecError(f"{expected_role}: spec input {spec.input.name!r} is not a model input "
                                 f"(model inputs: {runner.input_names})")
        missing = [o for o in self.output_names_of(spec) if o not in runner.output_names]
        if missing:
            raise ModelSpecError(f"{expected_role}: spec outputs {missing} are not model outputs "
                                 f"(model outputs: {runner.output_names})")
        self.runner, self.spec = runner, spec

    @staticmethod
    def output_names_of(spec: StageSpec) -> list[str]:
        d = spec.decoder
        if isinstance(d, SSDSpec):
            return [n for n in (d.boxes, d.scores, d.landmarks) if n]
        if isinstance(d, HeatmapSpec):
            return [n for n in (d.heatmap, d.size, d.offset, d.landmarks) if n]
        return [spec.output]

    def run(self, hwc: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner({self.spec.input.name: to_tensor(hwc, self.spec.input)})


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Detector(Network):
    def __init__(self, runner, spec: StageSpec, *, score_threshold: float = 0.5, nms_iou: float = 0.4,
                 top_k: int = 750, max_faces: int = 10):
        super().__init__(runner, spec, "detector")
        for name, v in (("score_threshold", score_threshold), ("nms_iou", nms_iou)):
            if not 0.0 <= v <= 1.0:
                raise ModelSpecError(f"detector {name} must be in [0, 1], got {v!r}")
        for name, v in (("top_k", top_k), ("max_faces", max_faces)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ModelSpecError(f"detector {name} must be a positive int, got {v!r}")
        self.score_threshold, self.nms_iou, self.top_k, self.max_faces = score_threshold, nms_iou, top_k, max_faces

    @property
    def gives_landmarks(self) -> bool:
        return self.spec.decoder.landmarks is not None

    def resize(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """The network-input image and the (sx, sy) scale from image to input pixels."""
        from PIL import Image
        ih, iw = self.spec.input.size
        h, w = rgb.shape[:2]
        if self.spec.input.resize == "stretch":
            nw, nh = iw, ih
        else:
            s = min(iw / w, ih / h)
            nw, nh = max(1, min(iw, round(w * s))), max(1, min(ih, round(h * s)))
        # Pillow's resize filters (antialiases) when shrinking, unlike plain bilinear sampling.
        small = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
        canvas = np.zeros((ih, iw, 3), np.uint8)
        canvas[:nh, :nw] = small
        return canvas, (nw / w, nh / h)

    def detect(self, outputs: dict[str, np.ndarray]):
        """Kept faces in network-input pixels, best first: boxes, scores, landmarks or None.

        Confidence threshold -> top-k (`top_k` candidates) -> NMS keeping at most `max_faces`.
        """
        d = self.spec.decoder
        ih, iw = self.spec.input.size
        if isinstance(d, SSDSpec):
            p = len(d.priors)
            conf = np.asarray(outputs[d.scores], np.float32)
            if conf.size % p:
                raise ModelSpecError(f"detector: scores {conf.shape} do not fit the {p} priors of the spec")
            conf = conf.reshape(p, -1)
            if d.scores_are == "logits":
                conf = _softmax(conf)
            boxes, scores = detect_postprocess(
                outputs[d.boxes], conf, d.priors, conf_threshold=self.score_threshold, nms_top_k=self.top_k,
                top_k=self.max_faces, iou_threshold=self.nms_iou, variances=d.variances, face_class=d.face_class)
            return boxes * np.array([iw, ih, iw, ih], np.float32), scores, None
        boxes, scores, lms = decode_heatmap(outputs[d.heatmap], outputs[d.size], outputs[d.offset],
                                            outputs[d.landmarks] if d.landmarks else None,
                                            threshold=self.score_threshold, cfg=d.decoding)
        idx = select_top_k(scores, self.score_threshold, self.top_k)
        idx = idx[nms(np.ascontiguousarray(boxes[idx]), self.nms_iou, self.max_faces)]
        return boxes[idx], scores[idx], None if lms is None else lms[idx]

    def __call__(self, rgb: np.ndarray) -> Detections:
        canvas, (sx, sy) = self.resize(rgb)
        boxes, scores, lms = self.detect(self.run(canvas))
        h, w = rgb.shape[:2]
        b = np.clip(boxes / np.array([sx, sy, sx, sy], np.float32), 0, np.array([w, h, w, h], np.float32))
        # A box wholly outside the image clips to nothing; a NaN box (a broken model) is no face either.
        ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        points = None if lms is None else clip_to_boxes(lms[ok] / np.array([sx, sy], np.float32), b[ok])
        return Detections(b[ok].astype(np.float32), scores[ok].astype(np.float32),
                          None if points is None else points.astype(np.float32))


class Fitter(Network):
    """Five landmarks for one face box: crop (box grown by crop_expand), run, map back, clip into the box."""

    def __init__(self, runner, spec: StageSpec):
        super().__init__(runner, spec, "fitter")

    def __call__(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        ih, iw = self.spec.input.size
        ch, cw = (iw, ih) if self.spec.transposed else (ih, iw)     # the crop as the image shows it
        m = box_to_crop_matrix(box, (ch, cw), self.spec.crop_expand)
        crop = warp_affine(rgb, m, (ch, cw))
        out = np.asarray(self.run(crop.transpose(1, 0, 2) if self.spec.transposed else crop)[self.spec.output],
                         np.float64)
        if out.size != 10:
            raise ModelSpecError(f"fitter output {self.spec.output!r} has {out.size} values, expected 10 (5 points)")
        pts = out.reshape(2, 5).T if self.spec.point_layout == "planar" else out.reshape(5, 2)
        crop_pts = pts * (np.array([cw, ch]) if self.spec.normalized else 1.0)
        pts = apply_affine(invert_affine(m), crop_pts)
        return clip_to_boxes(pts[None], np.asarray(box, np.float64)[None])[0].astype(np.float32)


class Extractor(Network):
    """The L2-normalised template of the face aligned onto the ArcFace points.

    fingerprint identifies the model (galleries refuse templates of another extractor).
    """

    def __init__(self, runner, spec: StageSpec, fingerprint: str | None = None):
        super().__init__(runner, spec, "extractor")
        self.fingerprint = fingerprint

    def align(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return align_face(rgb, landmarks, self.spec.input.size)[0]

    def __call__(self, aligned: np.ndarray) -> np.ndarray:
        return l2_normalise(self.run(aligned)[self.spec.output])
