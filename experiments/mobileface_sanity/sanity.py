"""Is the converted MobileFace template meaningful? Cosines of augmented copies of one face vs
different people, for the trained model (`convlab models fetch mobileface`) and, as a control, the
untrained zoo extractor. Runs on convlab's engine through the face pipeline's Extractor stage.

Faces: scikit-image's astronaut (colour, 512x512; aligned onto the ArcFace points from five landmarks
placed by hand) and the 100 faces of scikit-image's LFW subset (25x25 grey crops of different people,
upscaled to 112x112: not aligned, so a harder case for both models).

    PYTHONPATH=src .venv/bin/python experiments/mobileface_sanity/sanity.py [--save-crop FILE.png]
"""
from __future__ import annotations

import argparse
import itertools

import numpy as np
from PIL import Image
from skimage import data

from convlab import realmodels
from convlab.face.align import align_face
from convlab.face.models import resolve
from convlab.face.runners import make_runner
from convlab.face.specs import stage_spec
from convlab.face.stages import Extractor

# left eye, right eye, nose tip, left / right mouth corner (as seen), astronaut image pixels
ASTRONAUT_POINTS = np.array([[201.5, 101.0], [247.5, 103.5], [222.5, 127.5], [206.0, 145.0], [242.5, 145.0]])


def augmentations(face: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Label-preserving changes of one 112x112x3 crop (0..255 float)."""
    shifted = np.roll(face, (2, -2), axis=(0, 1))
    return {"mirror": face[:, ::-1], "darker, lower contrast": 0.7 * face + 20,
            "noise sigma 8": np.clip(face + rng.normal(0, 8, face.shape), 0, 255), "shift 2 px": shifted}


def lfw_faces() -> np.ndarray:
    grey = data.lfw_subset()[:100]                  # the first 100 are faces, the rest are not
    up = np.stack([np.asarray(Image.fromarray((g * 255).astype(np.uint8)).resize((112, 112), Image.BILINEAR))
                   for g in grey]).astype(np.float32)
    return np.repeat(up[..., None], 3, axis=3)


def cosine(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def extractor(model) -> Extractor:
    m, ms = resolve("extractor", model)
    return Extractor(make_runner("convlab", m), stage_spec(ms))


def report(name: str, ext: Extractor, astronaut: np.ndarray, faces: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    print(f"\n## {name}")
    t = ext(astronaut)
    for what, aug in augmentations(astronaut, rng).items():
        print(f"astronaut vs astronaut {what:<24} cos {cosine(t, ext(aug)):+.3f}")
    templates = [ext(f) for f in faces]
    same = [cosine(templates[i], ext(aug)) for i in range(0, len(faces), 5)
            for aug in augmentations(faces[i], rng).values()]
    diff = [cosine(templates[i], templates[j]) for i, j in itertools.combinations(range(len(faces)), 2)]
    grey_astro = np.repeat(np.asarray(Image.fromarray(astronaut.mean(2).astype(np.uint8)).resize((25, 25), Image.BILINEAR)
                                      .resize((112, 112), Image.BILINEAR), np.float32)[..., None], 3, axis=2)
    vs_lfw = [cosine(ext(grey_astro), tt) for tt in templates]
    q = lambda v: f"mean {np.mean(v):+.3f}  min {np.min(v):+.3f}  5% {np.percentile(v, 5):+.3f}  95% {np.percentile(v, 95):+.3f}  max {np.max(v):+.3f}"
    print(f"LFW same face, augmented ({len(same)} pairs):  {q(same)}")
    print(f"LFW different faces ({len(diff)} pairs):    {q(diff)}")
    print(f"astronaut (grey, 25 px) vs LFW faces:      {q(vs_lfw)}")
    auc = np.mean([s > d for s in same for d in diff])
    print(f"P(same-face pair > different-face pair) = {auc:.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--save-crop", help="write the aligned astronaut crop here (a PNG) to check the landmarks")
    args = p.parse_args()
    astronaut = align_face(data.astronaut(), ASTRONAUT_POINTS)[0]
    if args.save_crop:
        Image.fromarray(astronaut.astype(np.uint8)).resize((224, 224)).save(args.save_crop)
    faces = lfw_faces()
    report("trained MobileFace (TF.js, converted)", extractor(str(realmodels.path("mobileface"))), astronaut, faces)
    report("control: untrained zoo extractor (seeded MobileFaceNet)", extractor("zoo"), astronaut, faces)


if __name__ == "__main__":
    main()
