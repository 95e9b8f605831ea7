"""Verification scores of the trained pipeline on real photographs: genuine and impostor pairs, the ROC, the
EER, the decision threshold, and how genuine scores fall with face size.

Every face of the labelled photographs (`photos.labelled()`), scikit-image's camera man and the six people of
the group photograph (distinct people, from each other and from the labelled ones) goes through the default
pipeline (trained CenterFace -> MTCNN O-Net -> MobileFace, convlab's engine), unchanged and augmented:

- box: the detected box shifted or resized before the fitter (a detector's box error; the fitter, alignment
  and extractor then run as in the pipeline);
- scale: the whole photograph shrunk (antialiased) until the face is 112 / 80 / 48 / 32 px wide, in a
  640x480 frame, then the whole pipeline from the detector on (the small-face case of the Imagination seed,
  whose verification degrades on low-resolution faces);
- photometric, rotation (+-5, +-15 deg), mirror, degradation (blur, noise, JPEG): a new frame around the
  face, whole pipeline.

Templates are compared by cosine. Pair types: genuine (same person) across different photographs, across
cuts of one photograph (two of the five Obama photographs are the official portrait cut at the face), and a
face against its own augmentations; impostor (different people), unaugmented and augmented. There are
few identities (Obama, Biden, Hanks, Collins, the camera man and six unnamed people), so these numbers
describe this set, not a population: an LFW-style benchmark would be needed for that.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np

from ..errors import ConvlabError
from . import output

WIDTHS = (112, 80, 48, 32)          # face widths (px) of the scale augmentation
FRAME = (640, 480)                  # a camera frame: the smallest frame a face is placed in
OLD_THRESHOLD = 0.5                 # `convlab verify`'s default before any trained extractor was measured
FPRS = (0.0, 1e-2, 1e-1)
# The two cuts of the official portrait are the same photograph as `obama`: a pair of them tests invariance
# to the cut, not recognition across photographs.
SAME_SHOT = {"builtin:obama_partial_face": "builtin:obama", "builtin:obama_partial_face2": "builtin:obama"}
EXTRA = [("builtin:camera", "camera_man")]      # scikit-image's camera man, nobody else in the set


@dataclass(frozen=True)
class Aug:
    name: str
    group: str          # box, scale, photometric, rotation, mirror, degradation
    params: dict


def augmentations(quick: bool) -> list[Aug]:
    augs = [Aug("box shift x +10%", "box", {"dx": 0.10}), Aug("box shift y -10%", "box", {"dy": -0.10}),
            Aug("box 80%", "box", {"grow": 0.8}), Aug("box 120%", "box", {"grow": 1.2}),
            *[Aug(f"face {w} px", "scale", {"width": w}) for w in WIDTHS],
            Aug("darker x0.6", "photometric", {"gain": 0.6}),
            Aug("brighter x1.3+20", "photometric", {"gain": 1.3, "bias": 20}),
            Aug("contrast x0.5", "photometric", {"contrast": 0.5}),
            *[Aug(f"rotate {a:+d} deg", "rotation", {"angle": a}) for a in (-15, -5, 5, 15)],
            Aug("mirror", "mirror", {"flip": True}), Aug("blur sigma 1.5", "degradation", {"blur": 1.5}),
            Aug("noise sigma 10", "degradation", {"noise": 10.0}), Aug("JPEG q15", "degradation", {"jpeg": 15})]
    return [a for a in augs if a.name in ("mirror", "face 48 px", "box 120%")] if quick else augs


def faces_to_study(quick: bool) -> list[tuple[str, str]]:
    """(image, identity) of the single-face photographs; the group photograph is added face by face."""
    from .. import photos
    faces = photos.labelled() + EXTRA
    return [f for f in faces if f[0] in ("builtin:astronaut", "builtin:obama", "builtin:obama2", "builtin:biden")] \
        if quick else faces


def _frame(rgb: np.ndarray, box: np.ndarray, p: dict, seed: int) -> np.ndarray:
    """A frame around the face: shrunk to p["width"] px of face, rotated, mirrored, then photometric changes."""
    from PIL import Image, ImageFilter
    im = Image.fromarray(rgb)
    fw = float(box[2] - box[0])
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    s = min(1.0, p["width"] / fw) if "width" in p else 1.0
    if s < 1.0:       # Pillow filters when shrinking; the affine warp below would alias
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
        centre, fw = centre * s, fw * s
    side = round(3 * fw)
    w, h = max(FRAME[0], side), max(FRAME[1], side)
    a = np.deg2rad(p.get("angle", 0.0))
    # Output pixel u -> input pixel: centre + R(-a) F (u - frame centre), F mirroring x.
    flip = -1.0 if p.get("flip") else 1.0
    r = np.array([[np.cos(a) * flip, np.sin(a)], [-np.sin(a) * flip, np.cos(a)]])
    off = centre - r @ np.array([w / 2, h / 2])
    im = im.transform((w, h), Image.AFFINE, (r[0, 0], r[0, 1], off[0], r[1, 0], r[1, 1], off[1]),
                      resample=Image.BILINEAR, fillcolor=(114, 114, 114))
    if "blur" in p:
        im = im.filter(ImageFilter.GaussianBlur(p["blur"]))
    if "jpeg" in p:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=p["jpeg"])
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    x = np.asarray(im, np.float64)
    x = (x - 128.0) * p.get("contrast", 1.0) + 128.0
    x = x * p.get("gain", 1.0) + p.get("bias", 0.0)
    if "noise" in p:
        x = x + np.random.default_rng(seed).normal(0.0, p["noise"], x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _nearest(res, point: np.ndarray, fw: float):
    """The detected face whose box centre is nearest `point`, if within half a face width (else a miss)."""
    if not res.faces:
        return None
    d = [np.hypot(*(np.array([(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2]) - point)) for f in res.faces]
    k = int(np.argmin(d))
    return res.faces[k] if d[k] <= 0.5 * fw else None


def augmented_template(pipe, rgb: np.ndarray, face, aug: Aug, seed: int):
    """(template or None when the face was not found, face width in the frame)."""
    p, box = aug.params, np.asarray(face.box, np.float64)
    fw = float(box[2] - box[0])
    if aug.group == "box":
        wh = box[2:] - box[:2]
        c = (box[:2] + box[2:]) / 2 + wh * [p.get("dx", 0.0), p.get("dy", 0.0)]
        half = wh * p.get("grow", 1.0) / 2
        lm = pipe.fitter(rgb, np.r_[c - half, c + half].astype(np.float32))
        return pipe.extractor(pipe.extractor.align(rgb, lm)), fw
    frame = _frame(rgb, box, p, seed)
    width = min(fw, p.get("width", fw))
    f = _nearest(pipe.run(frame), np.array([frame.shape[1] / 2, frame.shape[0] / 2]), width)
    return (None if f is None else f.template), width


def collect(pipe, quick: bool, progress=None) -> tuple[list[dict], np.ndarray]:
    """One row per template (face, identity, shot, augmentation, face width, found) and the templates."""
    from ..face.image import load_image
    sources = []            # (image, identity, shot, rgb, face)
    for image, who in faces_to_study(quick):
        rgb = load_image(image)
        res = pipe.run(rgb, max_faces=1)
        if not res.faces:       # every labelled photograph has a face the detector finds; skipping one would hide it
            raise ConvlabError(f"no face found in {image} at the pipeline's defaults")
        sources.append((image, who, SAME_SHOT.get(image, image), rgb, res.faces[0]))
    rgb = load_image("builtin:group")
    for k, f in enumerate(pipe.run(rgb).faces[:2 if quick else None]):
        sources.append((f"builtin:group#{k}", f"group_person_{k}", f"builtin:group#{k}", rgb, f))
    rows, templates = [], []
    augs = augmentations(quick)
    todo = [(s, None) for s in sources] + [(s, a) for s in sources for a in augs]
    for i, ((image, who, shot, rgb, face), aug) in enumerate(progress(todo) if progress else todo):
        if aug is None:
            t, width = face.template, float(face.box[2] - face.box[0])
        else:
            t, width = augmented_template(pipe, rgb, face, aug, seed=i)
        rows.append({"face": image.split(":", 1)[1], "identity": who, "shot": shot.split(":", 1)[1],
                     "augmentation": aug.name if aug else "none", "group": aug.group if aug else "none",
                     "face_width_px": round(width, 1), "found": t is not None})
        templates.append(t if t is not None else np.full(face.template.shape, np.nan, np.float32))
    return rows, np.stack(templates)


def pair_kind(a: dict, b: dict) -> str | None:
    """The pair type of two templates, None for pairs left out (two augmentations of one face)."""
    aug = "unaugmented" if a["group"] == b["group"] == "none" else "augmented"
    if a["identity"] != b["identity"]:
        return f"impostor, {aug}"
    if a["face"] == b["face"]:
        return "genuine, a face vs its own augmentation" if "none" in (a["group"], b["group"]) else None
    if a["shot"] == b["shot"]:
        return f"genuine, cuts of one photograph, {aug}"
    return f"genuine, different photographs, {aug}"


def pairs(rows: list[dict], t: np.ndarray) -> list[tuple[int, int, str, float]]:
    s = t.astype(np.float64) @ t.T.astype(np.float64)
    out = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            kind = pair_kind(rows[i], rows[j])
            if kind and rows[i]["found"] and rows[j]["found"]:
                out.append((i, j, kind, float(s[i, j])))
    return out


def stats(kind: str, v: np.ndarray) -> dict:
    q = np.percentile(v, [1, 5, 50, 95, 99]) if len(v) else [None] * 5
    return {"pair_type": kind, "pairs": len(v), "mean": float(v.mean()) if len(v) else None,
            "min": float(v.min()) if len(v) else None, "p1": q[0], "p5": q[1], "median": q[2], "p95": q[3],
            "p99": q[4], "max": float(v.max()) if len(v) else None}


def roc(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    """TPR at FPR <= each of FPRS (the best threshold reaching it), the EER and its threshold.

    A pair is accepted when its cosine >= the threshold. FPR 0 means a threshold just above the highest
    impostor score."""
    ts = np.unique(np.r_[genuine, impostor, np.nextafter(impostor.max(), 2)])
    tpr = (genuine[None, :] >= ts[:, None]).mean(1)
    fpr = (impostor[None, :] >= ts[:, None]).mean(1)
    out = {"genuine_pairs": len(genuine), "impostor_pairs": len(impostor)}
    for x in FPRS:
        ok = fpr <= x
        out[f"tpr_at_fpr_{x:g}"] = float(tpr[ok].max())
    # With few pairs the rates jump and rarely cross exactly: the EER is the lowest max(FPR, FNR) any threshold
    # reaches. The thresholds reaching it are a range (FPR falls and FNR rises with the threshold) from just
    # above the score below the lowest tied one up to the highest tied one; its threshold is the middle,
    # rounded to as few decimals as stay inside.
    worst = np.maximum(fpr, 1 - tpr)
    tied = np.flatnonzero(worst == worst.min())
    lo, hi = ts[max(tied[0] - 1, 0)], ts[tied[-1]]
    mid = (lo + hi) / 2
    out["eer"] = float(worst.min())
    out["eer_threshold"] = float(next((round(mid, d) for d in (2, 3, 4) if lo < round(mid, d) <= hi), mid))
    out["eer_range_above"], out["eer_range_to"] = float(lo), float(hi)
    out["impostor_max"], out["genuine_min"] = float(impostor.max()), float(genuine.min())
    return out


def rates_at(rocs: dict, sets: dict, threshold: float, label: str) -> None:
    """Add the true and false accept rates at `threshold` to each set's ROC row."""
    for name, (g, i) in sets.items():
        rocs[name][f"tpr_at_{label}"], rocs[name][f"fpr_at_{label}"] = float((g >= threshold).mean()), \
            float((i >= threshold).mean())


def roc_sets(rows: list[dict], scored: list) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(genuine, impostor) scores of the sets the ROC is reported on."""
    def pick(keep):
        g = np.array([s for i, j, k, s in scored if k.startswith("genuine") and keep(i, j, k)])
        im = np.array([s for i, j, k, s in scored if k.startswith("impostor") and keep(i, j, k)])
        return g, im
    small = WIDTHS[-2]     # the smallest face size but one: what the smallest alone costs shows apart
    return {"unaugmented photographs": pick(lambda i, j, k: k.endswith("unaugmented")),
            "unaugmented, different photographs only": pick(
                lambda i, j, k: k.endswith("unaugmented") and "cuts" not in k),
            f"all pairs, faces >= {small} px": pick(lambda i, j, k: min(rows[i]["face_width_px"],
                                                                         rows[j]["face_width_px"]) >= small),
            "all pairs": pick(lambda i, j, k: True)}


def by_size(rows: list[dict], t: np.ndarray, threshold: float) -> list[dict]:
    """Per face width of the scale augmentation: the scaled face against its own original (same photograph),
    against the other photographs of the same person (and the share of those accepted at `threshold`) and
    against other people's originals."""
    orig = [i for i, r in enumerate(rows) if r["group"] == "none"]
    out = []
    for name in ["none"] + [f"face {w} px" for w in WIDTHS]:
        idx = [i for i, r in enumerate(rows) if r["augmentation"] == name]
        found = [i for i in idx if rows[i]["found"]]
        own, cross, imp = [], [], []
        for i in found:
            for j in orig:
                if i == j:
                    continue
                s = float(t[i] @ t[j])
                if rows[j]["face"] == rows[i]["face"]:
                    own.append(s)
                elif rows[j]["identity"] == rows[i]["identity"] and rows[j]["shot"] != rows[i]["shot"]:
                    cross.append(s)
                elif rows[j]["identity"] != rows[i]["identity"]:
                    imp.append(s)
        if not idx:
            continue
        widths = [rows[i]["face_width_px"] for i in idx]
        out.append({"face_width": "as photographed" if name == "none" else name.split()[1],
                    "median_width_px": float(np.median(widths)),
                    "faces": len(idx), "found": len(found),
                    "own_mean": _mean(own), "own_min": _min(own), "cross_pairs": len(cross),
                    "cross_mean": _mean(cross), "cross_min": _min(cross),
                    "cross_accepted": float(np.mean(np.array(cross) >= threshold)) if cross else None,
                    "impostor_mean": _mean(imp), "impostor_max": max(imp) if imp else None})
    return out


def _mean(v):
    return float(np.mean(v)) if v else None


def _min(v):
    return float(np.min(v)) if v else None


def choose_threshold(rocs: dict) -> dict:
    """The default threshold: the EER threshold of the unaugmented photographs (the pairs a user's verify sees;
    when their scores leave a gap, the gap's midpoint, erring on neither side). Augmented pairs weigh in
    through the report, not the choice: both sides of an impostor pair darkened alike is not a use case."""
    g = rocs["unaugmented photographs"]
    overlap = g["genuine_min"] <= g["impostor_max"]
    return {"threshold": g["eer_threshold"],
            "rule": "EER threshold of the unaugmented photographs (" +
                    ("their genuine and impostor scores overlap)" if overlap else "the midpoint of the gap between "
                     "their impostor max and genuine min)")}


def run(out_dir=None, quick: bool = False) -> dict:
    from ..face.models import build_pipeline, default_models
    from ..face.runners import engine_options
    from ..progress import bar
    out = output.out_dir(out_dir)
    meta_path = out / "verify.json"
    chosen, notes = default_models()
    if notes:
        raise ConvlabError("the verification study measures the trained models: " + "; ".join(notes))
    runner, opts = engine_options(None)
    pipe = build_pipeline(chosen["detector"], chosen["fitter"], chosen["extractor"], runner=runner,
                          engine_options=opts)
    timing = (f"Trained models ({', '.join(chosen[r] for r in ('detector', 'fitter', 'extractor'))}), convlab's "
              f"engine, 1 thread. Scores are cosines of L2-normalised templates; no timing is reported.")
    meta = output.write_meta(meta_path, {"quick": quick, "models": chosen, "widths": WIDTHS,
                                         "augmentations": [a.name for a in augmentations(quick)]}, timing, 1)
    t0 = time.perf_counter()
    rows, t = collect(pipe, quick, lambda it: bar(it, desc="templates", unit="face"))
    scored = pairs(rows, t)
    kinds = list(dict.fromkeys(k for _, _, k, _ in sorted(scored, key=lambda p: p[2])))
    table = [stats(k, np.array([s for _, _, kk, s in scored if kk == k])) for k in kinds]
    sets = {name: gi for name, gi in roc_sets(rows, scored).items() if len(gi[0]) and len(gi[1])}
    rocs = {name: roc(g, i) for name, (g, i) in sets.items()}
    choice = choose_threshold(rocs)
    rates_at(rocs, sets, OLD_THRESHOLD, "old")
    rates_at(rocs, sets, choice["threshold"], "chosen")
    roc_rows = [{"set": name, **r} for name, r in rocs.items()]
    sizes = by_size(rows, t, choice["threshold"])
    hardest = hardest_pairs(rows, scored)
    output.write_csv(out / "verify.csv", table)
    output.write_csv(out / "verify_roc.csv", roc_rows)
    output.write_csv(out / "verify_sizes.csv", sizes)
    output.write_csv(out / "verify_templates.csv", rows)
    figs = _plot(out, rocs, sets, sizes, choice)
    _write_md(out, table, roc_rows, sizes, rows, hardest, choice, meta)
    meta.update(seconds=time.perf_counter() - t0, threshold=choice)
    output.end_load(meta, meta_path)
    return {"rows": table, "roc": roc_rows, "sizes": sizes, "threshold": choice,
            "files": ["verify.csv", "verify_roc.csv", "verify_sizes.csv", "verify_templates.csv", "verify.md",
                      *figs, "verify.json"]}


def hardest_pairs(rows: list[dict], scored: list, n: int = 8) -> list[dict]:
    """The highest-scoring impostor pairs and the lowest-scoring genuine pairs across photographs: where the
    errors near a threshold come from."""
    def name(i):
        r = rows[i]
        return r["face"] + ("" if r["augmentation"] == "none" else f" ({r['augmentation']})")
    imp = sorted((p for p in scored if p[2].startswith("impostor")), key=lambda p: -p[3])[:n]
    gen = sorted((p for p in scored if p[2].startswith("genuine, different")), key=lambda p: p[3])[:n]
    return [{"pair_type": k, "a": name(i), "b": name(j), "cosine": s} for i, j, k, s in imp + gen]


def _plot(out, rocs, sets, sizes, choice) -> list[str]:
    fig, (ax1, ax2, ax3) = output.figure(3, 15)
    bins = np.linspace(-0.3, 1.0, 53)
    for label, (g, i) in (("unaugmented", sets["unaugmented photographs"]), ("all", sets["all pairs"])):
        style = {"histtype": "step" if label == "all" else "stepfilled", "alpha": 1.0 if label == "all" else 0.4,
                 "density": True}
        ax1.hist(g, bins, label=f"genuine, {label} ({len(g)})", color="tab:green", **style)
        ax1.hist(i, bins, label=f"impostor, {label} ({len(i)})", color="tab:red", **style)
    for x, name, ls in ((OLD_THRESHOLD, f"old default {OLD_THRESHOLD:g}", ":"),
                        (choice["threshold"], f"chosen {choice['threshold']:g}", "--")):
        ax1.axvline(x, color="k", ls=ls, label=name)
    ax1.set(title="Cosine of genuine and impostor pairs", xlabel="cosine similarity", ylabel="density")
    ax1.legend(fontsize=7)
    for name, (g, i) in sets.items():
        ts = np.unique(np.r_[g, i])
        ax2.plot([(i >= x).mean() for x in ts], [(g >= x).mean() for x in ts],
                 label=f"{name} (EER {rocs[name]['eer']:.3f})")
    ax2.set_xscale("symlog", linthresh=1e-3)
    ax2.set(title="ROC (accept when cosine >= threshold)", xlabel="false accept rate (impostor pairs)",
            ylabel="true accept rate (genuine pairs)", xlim=(0, 1), ylim=(0, 1.01))
    ax2.legend(fontsize=7)
    sizes = [s for s in sizes if s["face_width"] != "as photographed"]     # no own-original score to plot
    x = [s["median_width_px"] for s in sizes]
    for key, label in (("own_mean", "same photograph, mean"), ("own_min", "same photograph, min"),
                       ("cross_mean", "other photographs of the person, mean"), ("impostor_max", "impostor, max")):
        ax3.plot(x, [s[key] if s[key] is not None else np.nan for s in sizes], "o-", label=label)
    ax3.axhline(choice["threshold"], color="k", ls="--", label=f"threshold {choice['threshold']:g}")
    ax3.set_xscale("log")
    ax3.set(title="Genuine scores vs face width (scaled copies vs originals)", xlabel="face width in the frame (px)",
            ylabel="cosine similarity")
    ax3.legend(fontsize=7)
    return output.save_figure(fig, out, "verify.png")


def _write_md(out, table, roc_rows, sizes, rows, hardest, choice, meta):
    unaug, every = roc_rows[0], roc_rows[-1]       # roc_sets' order: unaugmented first, all pairs last
    identities = sorted({r["identity"] for r in rows})
    faces = sorted({r["face"] for r in rows})
    missed = [f"{r['face']} / {r['augmentation']}" for r in rows if not r["found"]]
    fmt = {"pair_type": "pair type", "pairs": "pairs", "mean": "mean", "min": "min", "p1": "1%", "p5": "5%",
           "median": "median", "p95": "95%", "p99": "99%", "max": "max"}
    roc_cols = {"set": "pairs", "genuine_pairs": "genuine", "impostor_pairs": "impostor",
                **{f"tpr_at_fpr_{x:g}": f"TPR at FPR {x:g}" for x in FPRS}, "eer": "EER",
                "eer_threshold": "threshold at EER", "genuine_min": "genuine min", "impostor_max": "impostor max",
                "tpr_at_chosen": f"TPR at {choice['threshold']:g}", "fpr_at_chosen": f"FPR at {choice['threshold']:g}",
                "tpr_at_old": f"TPR at {OLD_THRESHOLD:g}", "fpr_at_old": f"FPR at {OLD_THRESHOLD:g}"}
    size_cols = {"face_width": "face width", "median_width_px": "median px", "faces": "faces", "found": "found",
                 "own_mean": "vs own original, mean", "own_min": "min", "cross_pairs": "other photos: pairs",
                 "cross_mean": "mean", "cross_min": "min",
                 "cross_accepted": f"accepted at {choice['threshold']:g}", "impostor_mean": "vs other people, mean",
                 "impostor_max": "max"}
    sections = [
        ("What was measured",
         f"{len(faces)} faces of {len(identities)} people ({', '.join(identities)}), each unchanged and under "
         f"{len(meta['options']['augmentations'])} augmentations ({', '.join(meta['options']['augmentations'])}): "
         f"{len(rows)} templates, {sum(r['found'] for r in rows)} with the face found. **Few identities**: "
         "only Obama has several photographs (three different ones, plus two cuts of the official portrait), "
         "so the genuine pairs across photographs are few and all his; every number here describes this set, "
         "not a population, and a threshold from it is a sensible default, not a calibrated operating point."),
        ("Scores per pair type", output.markdown(table, fmt, ".3f")),
        ("ROC and EER", output.markdown(roc_rows, roc_cols, ".3f")),
        ("The threshold",
         f"**{choice['threshold']:g}**, the {choice['rule']}; every threshold above {unaug['eer_range_above']:.3f} "
         f"and up to {unaug['eer_range_to']:.3f} gives the same rates. The old default {OLD_THRESHOLD:g} was chosen "
         f"before any trained extractor existed: it accepts {unaug['tpr_at_old']:.0%} of the unaugmented genuine pairs. "
         f"Accepting no unaugmented impostor pair needs a threshold above {unaug['impostor_max']:.3f}, which "
         f"accepts {unaug['tpr_at_fpr_0']:.0%} of them; over all pairs, augmentations included, the EER threshold "
         f"is {every['eer_threshold']:.3f}."),
        ("Genuine scores vs face size (the photograph shrunk until the face is this wide, in a 640x480 frame)",
         output.markdown(sizes, size_cols, ".3f")),
        ("The hardest pairs: highest impostor, lowest genuine across photographs",
         output.markdown(hardest, {"pair_type": "pair type", "a": "a", "b": "b", "cosine": "cosine"}, ".3f")),
        ("Faces not found (detector miss or another face nearer the frame centre)",
         ", ".join(missed) if missed else "none"),
    ]
    output.write_markdown(out / "verify.md", "Verification scores of the trained pipeline on real photographs",
                          sections, meta)
