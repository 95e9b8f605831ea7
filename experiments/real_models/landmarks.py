"""Which 5 landmarks are better on real photographs: CenterFace's own (its input letterboxed, as the
pipeline feeds it, or stretched), or MTCNN O-Net's on a 48x48 crop of CenterFace's box? Both against
points marked by hand (eye centres, nose tip, mouth corners; read off a 2x-5x zoomed grid, about
+-3 px), plus Tom Hanks' 112x112 face, which insightface ships aligned on the
ArcFace points (so its truth is those points), pasted into a 336x336 grey canvas so that it is a face
in a photograph rather than the whole image.

Error: distance to the truth / inter-ocular distance of the truth (NME), per point and mean.
Writes results/real_models/landmarks.md. Trained models (CenterFace, O-Net), onnxruntime, x86 host.

    PYTHONPATH=src python experiments/real_models/landmarks.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from convlab.face.align import CANONICAL_POINTS
from convlab.face.image import load_image
from convlab.face.models import build_pipeline

# (image, [left eye, right eye, nose tip, left mouth corner, right mouth corner]) as the image shows them.
HAND_MARKED = {
    "astronaut": [(202.6, 101.4), (245.0, 104.0), (224.0, 127.0), (203.0, 140.0), (243.0, 141.0)],
    "obama": [(441.5, 213.5), (547.5, 211.0), (492.5, 280.0), (440.0, 322.5), (542.5, 320.0)],
    "obama2": [(256.0, 371.0), (362.5, 379.0), (287.5, 442.5), (250.0, 517.5), (350.0, 522.5)],
    "biden": [(531.0, 322.5), (650.0, 346.0), (592.5, 412.5), (517.5, 462.5), (622.5, 475.0)],
}
NAMES = ("left eye", "right eye", "nose", "left mouth", "right mouth")


def images():
    for name, pts in HAND_MARKED.items():
        yield name, load_image(f"builtin:{name}"), np.array(pts)
    canvas = np.full((336, 336, 3), 128, np.uint8)
    canvas[112:224, 112:224] = load_image("builtin:tom_hanks")
    yield "tom_hanks (pasted, ArcFace truth)", canvas, CANONICAL_POINTS + 112


def main() -> int:
    pipes = {"CenterFace's own": build_pipeline("builtin:centerface", runner="onnxruntime"),
             "CenterFace's own, stretched": build_pipeline("builtin:centerface", runner="onnxruntime",
                                                           resize="stretch"),
             "O-Net on the box": build_pipeline("builtin:centerface", "builtin:mtcnn_onet", runner="onnxruntime"),
             "O-Net, box x1.1": build_pipeline("builtin:centerface", "builtin:mtcnn_onet", runner="onnxruntime",
                                               crop_expand=1.1)}
    rows, means = [], {k: [] for k in pipes}
    for name, rgb, truth in images():
        iod = float(np.linalg.norm(truth[0] - truth[1]))
        for label, pipe in pipes.items():
            faces = pipe.run(rgb, max_faces=1).faces
            if not faces:
                rows.append(f"| {name} | {iod:.0f} | {label} | no face found | | | | | |")
                continue
            nme = np.linalg.norm(faces[0].landmarks - truth, axis=1) / iod
            means[label].append(nme)
            rows.append(f"| {name} | {iod:.0f} | {label} | " + " | ".join(f"{v:.3f}" for v in nme)
                        + f" | {nme.mean():.3f} |")
    head = "| image | inter-ocular px | landmarks | " + " | ".join(NAMES) + " | mean |"
    summary = [f"| {k} ({len(v)} faces found) | " + " | ".join(f"{x:.3f}" for x in np.mean(v, 0))
               + f" | {np.mean(v):.3f} |" for k, v in means.items()]
    text = "\n".join([
        "# Landmarks on real photographs: CenterFace's own vs MTCNN O-Net", "",
        "Trained models (CenterFace 800x480 letterboxed, as the pipeline feeds it, or stretched; O-Net on a 48x48 crop "
        "of the letterboxed CenterFace's box), onnxruntime, "
        "x86 host. NME = distance to the truth / inter-ocular distance of the truth. Truth: hand-marked points "
        "(about +-3 px, i.e. 0.01-0.07 NME depending on the face size) or, for Tom Hanks, the ArcFace points his "
        "aligned crop was made with. `experiments/real_models/landmarks.py`.", "",
        head, "|" + "---|" * 9, *rows, "", "Mean over the images where a face was found:", "",
        "| landmarks | " + " | ".join(NAMES) + " | mean |", "|" + "---|" * 7, *summary, ""])
    out = Path(__file__).resolve().parents[2] / "results" / "real_models" / "landmarks.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
