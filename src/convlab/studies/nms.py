"""NMS top-k study: detector post-processing latency and accuracy over NMS_TOP_K x TOP_K x confidence.

The zoo detector (SSD, 320x240, 4420 priors) runs once per image (people photographs bundled with
scikit-image, plus generated images); then `detect_postprocess` is timed for every setting on 1
thread, and at the seed's four settings on 2 threads too (checked identical first): box decoding
of the selected candidates, confidence threshold, pre-NMS top-k and greedy NMS (IoU 0.3),
including its input checks. Prior generation happens once per model, so it is excluded (the
seed's figures include it). One timed call post-processes every image; latency
is per image. All settings and thread counts are timed round-robin (bench.timing.time_interleaved).

Accuracy: the 5000/1000/0.1 setting's detections are the ground truth; another setting's
detections are matched to them at IoU >= 0.5 (VOC-style: best-scoring first, each ground-truth box
matched once) and its AP over all images is compared with the baseline's (1 by construction);
a second AP counts only detections and truth scoring >= 0.5, the ones a pipeline would report.
The detector is untrained: its scores are spread out, so far more boxes pass the threshold than a
trained detector's would, and NMS keeps up to TOP_K; a harsh case for both latency and accuracy.
Greedy NMS never lets a lower-ranked box change what happens to a higher-ranked one, so a setting
can only lose detections ranked below its cuts: the confident ones survive unless a cut reaches them.
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from ..bench.timing import time_interleaved
from ..kernels.numba.support import numba_threads
from ..postprocess import detect_postprocess, priors_for_spec
from ..postprocess.decode import decode_selected, decode_selected_parallel
from ..postprocess.iou import iou_reference
from ..postprocess.nms import nms
from ..postprocess.nms_parallel import nms_parallel
from ..postprocess.topk import select_top_k_unchecked
from . import output
from .images import PEOPLE, study_images
from .models import zoo_model

BASELINE = (5000, 1000, 0.1)
SEED_SETTINGS = [(5000, 1000, 0.1), (2500, 750, 0.1), (2500, 750, 0.05), (1250, 750, 0.05)]
GRID = {"nms_top_k": (5000, 2500, 1250, 625), "top_k": (1000, 750, 400), "confidence": (0.1, 0.05, 0.2)}
IOU_NMS, IOU_MATCH = 0.3, 0.5
CONFIDENT = 0.5      # the detections a face pipeline would report: the second AP counts only these


def settings(quick: bool) -> list[tuple[int, int, float]]:
    if quick:
        return list(SEED_SETTINGS)
    grid = list(itertools.product(*GRID.values()))
    return SEED_SETTINGS + [s for s in grid if s not in SEED_SETTINGS]


def detector_outputs(images: np.ndarray, backend: str = "c"):
    """(priors, [(loc (A, 4), conf (A, 2)) per image]) from the zoo detector."""
    from .. import zoo
    from ..engine import Model
    zm = zoo_model("detector")
    m = Model.load(zm.model, backend=backend)
    name, d = zm.model.graph.input[0].name, zm.spec.decoding
    outs = []
    for x in zoo.normalise_images(images, zm.spec):
        o = m.run({name: x[None]})
        outs.append((o[d["loc"]][0], o[d["conf"]][0]))
    return priors_for_spec(zm.spec), outs


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([iou_reference(box, b) for box in a]).reshape(len(a), len(b))


def average_precision(dets: list[tuple[np.ndarray, np.ndarray]], truth: list[np.ndarray],
                      min_score: float = 0.0) -> tuple[float, float]:
    """(AP, recall) of per-image detections (boxes, scores; best first) against per-image truth
    (boxes, scores), both restricted to scores >= min_score."""
    scores, hits, n_truth = [], [], 0
    for (boxes, s), (gt, gs) in zip(dets, truth):
        boxes, s, gt = boxes[s >= min_score], s[s >= min_score], gt[gs >= min_score]
        n_truth += len(gt)
        iou = _pairwise_iou(boxes, gt) if len(gt) else np.zeros((len(boxes), 0))
        taken = np.zeros(len(gt), bool)
        for k in range(len(boxes)):
            j = int(np.argmax(iou[k])) if len(gt) else -1
            hit = j >= 0 and iou[k, j] >= IOU_MATCH and not taken[j]
            if hit:
                taken[j] = True
            hits.append(hit)
        scores.append(s)
    if not hits or not n_truth:
        return (1.0 if not n_truth and not hits else 0.0), (1.0 if not n_truth else 0.0)
    order = np.argsort(-np.concatenate(scores), kind="stable")
    tp = np.cumsum(np.array(hits)[order])
    recall = tp / n_truth
    precision = tp / np.arange(1, len(tp) + 1)
    # VOC all-point interpolation: area under the monotone envelope of precision(recall).
    env = np.maximum.accumulate(precision[::-1])[::-1]
    r = np.concatenate([[0.0], recall])
    return float(np.sum((r[1:] - r[:-1]) * env)), float(recall[-1])


def _stage_timings(priors, outs, repeats, max_time) -> list[dict]:
    """Each stage alone at the baseline setting on the first image, 1 vs 2 threads: what threading pays for."""
    loc, conf = outs[0]
    scores = np.ascontiguousarray(conf[:, 1])
    ntk, tk, thr = BASELINE
    idx = select_top_k_unchecked(scores, np.float32(thr), ntk)
    boxes = decode_selected(loc, priors, idx, 0.1, 0.2)

    def decode2():
        with numba_threads(2):
            decode_selected_parallel(loc, priors, idx, 0.1, 0.2)
    fns = {("threshold + top-k", 1): lambda: select_top_k_unchecked(scores, np.float32(thr), ntk),
           ("decode", 1): lambda: decode_selected(loc, priors, idx, 0.1, 0.2),
           ("decode", 2): decode2,
           ("nms", 1): lambda: nms(boxes, IOU_NMS, tk),
           ("nms", 2): lambda: nms_parallel(boxes, IOU_NMS, tk, 2)}
    t = time_interleaved(fns, repeats=repeats, max_time=max_time, progress="nms stages")
    return [{"stage": s, "threads": th, "candidates": len(idx), "wall_ms": t[k].median * 1e3,
             "wall_iqr_ms": t[k].iqr * 1e3, "cpu_ms": _cpu(t[k], th) * 1e3} for k, (s, th) in zip(fns, fns)]


def _cpu(t, threads: int) -> float:
    """1 thread: the calling thread's CPU time (process CPU time also counts the OpenMP workers of the
    interleaved 2-thread runs spin-waiting, which made the 1-thread CPU time exceed the wall time:
    5.9 vs 1.9 ms); more threads: process CPU time, all threads."""
    return t.thread_cpu_median if threads == 1 else t.cpu_median


def run(out_dir=None, quick: bool = False, threads=(1, 2), repeats: int | None = None,
        max_time: float | None = None) -> dict:
    out = output.out_dir(out_dir)
    repeats = repeats or (2 if quick else 9)
    max_time = max_time if max_time is not None else (0.5 if quick else 120.0)
    names, images = study_images(240, 320, 0 if quick else 3, people=PEOPLE[:1] if quick else PEOPLE)
    meta_path = out / "nms_topk.json"
    timing = (f"Latency per image, median of >= {repeats} interleaved samples (wall time and CPU time: with 1 thread "
              f"the calling thread's, with 2 threads the process's, both threads and any spin-waiting). Prior "
              f"generation excluded (once per model).")
    meta = output.write_meta(meta_path, {"quick": quick, "threads": list(threads), "images": names,
                                         "iou_nms": IOU_NMS, "iou_match": IOU_MATCH, "baseline": BASELINE},
                             timing, max(threads))
    t0 = time.perf_counter()
    priors, outs = detector_outputs(images)
    cfgs = settings(quick)
    # More threads only at the seed's settings: the grid is there for the accuracy/latency trade-off.
    timed_at = [(cfg, th) for cfg in cfgs for th in threads if th == 1 or cfg in SEED_SETTINGS]

    def post(cfg, th):
        ntk, tk, conf = cfg
        return [detect_postprocess(loc, c, priors, nms_top_k=ntk, top_k=tk, conf_threshold=conf,
                                   iou_threshold=IOU_NMS, threads=th) for loc, c in outs]

    results = {cfg: post(cfg, 1) for cfg in cfgs}
    for cfg, th in timed_at:      # the threaded path must agree, or nothing is timed
        if th > 1 and any(not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]))
                          for a, b in zip(results[cfg], post(cfg, th))):
            raise AssertionError(f"post-processing with {th} threads differs from 1 thread at {cfg}")
    truth = results[BASELINE]
    fns = {(cfg, th): (lambda cfg=cfg, th=th: post(cfg, th)) for cfg, th in timed_at}
    timed = time_interleaved(fns, repeats=repeats, max_time=max_time, progress="nms settings")
    n = len(outs)
    rows = []
    for cfg in cfgs:
        ap, recall = average_precision(results[cfg], truth)
        ap_confident, _ = average_precision(results[cfg], truth, CONFIDENT)
        row = {"nms_top_k": cfg[0], "top_k": cfg[1], "confidence": cfg[2], "seed_setting": cfg in SEED_SETTINGS,
               "candidates": float(np.mean([min(int((c[:, 1] > np.float32(cfg[2])).sum()), cfg[0]) for _, c in outs])),
               "detections": float(np.mean([len(s) for _, s in results[cfg]])),
               "ap": ap, "ap_drop_pct": 100 * (1.0 - ap), "recall": recall,
               "ap_drop_confident_pct": 100 * (1.0 - ap_confident)}
        for th in threads:
            t = timed.get((cfg, th))
            if t is None:
                continue
            row[f"t{th}_wall_ms"] = t.median * 1e3 / n
            row[f"t{th}_iqr_ms"] = t.iqr * 1e3 / n
            row[f"t{th}_cpu_ms"] = _cpu(t, th) * 1e3 / n
        if "t2_wall_ms" in row:
            row["speedup_2t_wall"] = row["t1_wall_ms"] / row["t2_wall_ms"]
        rows.append(row)
    stages = _stage_timings(priors, outs, repeats, max_time / 4)
    output.write_csv(out / "nms_topk.csv", rows)
    output.write_csv(out / "nms_stages.csv", stages)
    seed = output.read_reference("line2019_nms_topk")
    seed_acc = output.read_reference("line2019_nms_accuracy")
    _write_md(out, rows, stages, seed, seed_acc, threads, meta)
    plots = _plot(out, rows, seed, threads)
    meta["seconds"] = time.perf_counter() - t0
    output.end_load(meta, meta_path)
    return {"rows": rows, "stages": stages, "files": ["nms_topk.csv", "nms_stages.csv", "nms_topk.md",
                                                      "nms_topk.json"] + plots}


def _write_md(out, rows, stages, seed, seed_acc, threads, meta):
    tcols = {f"t{th}_{k}_ms": f"{th} thr {k} ms" for th in threads for k in ("wall", "cpu")}
    cols = {"nms_top_k": "NMS_TOP_K", "top_k": "TOP_K", "confidence": "conf", **tcols,
            "candidates": "candidates/img", "detections": "detections/img", "ap_drop_pct": "AP drop %",
            "recall": "recall", "ap_drop_confident_pct": f"AP drop % (score >= {CONFIDENT})"}
    seed_rows = [r for r in rows if r["seed_setting"]]
    by_cfg = {(int(s["nms_top_k"]), int(s["top_k"]), s["confidence"]): s for s in seed_acc}
    seed_lat = []
    for s in seed:
        seed_lat.append({**s, "accuracy_drop_pct": by_cfg.get((int(s["nms_top_k"]), int(s["top_k"]), s["confidence"]),
                                                            {}).get("accuracy_drop_pct")})
    sections = [
        ("The seed's settings, this machine", output.markdown(seed_rows, cols)),
        ("The seed's figures (LINE DevDay 2019; prior generation included; accuracy baseline 5000/750/0.1)",
         output.markdown(seed, {"device": "device", "nms_top_k": "NMS_TOP_K", "top_k": "TOP_K",
                                "confidence": "conf", "threads_1_ms": "1 thread ms", "threads_2_ms": "2 threads ms"})
         + "\n\nSeed accuracy drop: " + "; ".join(f"{int(s['nms_top_k'])}/{int(s['top_k'])}/{s['confidence']} "
                                                 f"{s['accuracy_drop_pct']}%" for s in seed_acc)),
        ("Every setting, this machine", output.markdown(rows, cols)),
        ("Stages alone (baseline setting, first image): what 2 threads pay for",
         output.markdown(stages, {"stage": "stage", "threads": "threads", "candidates": "candidates",
                                  "wall_ms": "wall ms", "wall_iqr_ms": "IQR ms", "cpu_ms": "CPU ms"}, ".4f")),
    ]
    output.write_markdown(out / "nms_topk.md", "NMS top-k study: detector post-processing", sections, meta)


def _plot(out, rows, seed, threads) -> list[str]:
    fig, (ax, ax2) = output.figure(2, 13)
    labels = [f"{int(s[0])}/{int(s[1])}/{s[2]}" for s in SEED_SETTINGS]
    ours = {(r["nms_top_k"], r["top_k"], r["confidence"]): r for r in rows}
    series = [(f"this CPU, 1 thread, {k} time", [ours[s][f"t1_{k}_ms"] for s in SEED_SETTINGS]) for k in ("cpu", "wall")]
    series += [(f"this CPU, {th} threads, wall time", [ours[s][f"t{th}_wall_ms"] for s in SEED_SETTINGS])
               for th in threads if th > 1]
    for dev in dict.fromkeys(s["device"] for s in seed):
        for th in (1, 2):
            vals = {(int(s["nms_top_k"]), int(s["top_k"]), s["confidence"]): s[f"threads_{th}_ms"]
                    for s in seed if s["device"] == dev}
            if any(vals.values()):
                series.append((f"{dev}, {th} thread(s) (seed)", [vals.get(s) or np.nan for s in SEED_SETTINGS]))
    output.grouped_bars(ax, labels, series)
    ax.set_yscale("log")
    ax.set_ylabel("ms per image")
    ax.set_xlabel("NMS_TOP_K / TOP_K / confidence")
    ax.set_title("Post-processing latency (seed includes prior generation)")
    x = [r["t1_cpu_ms"] for r in rows]
    ax2.scatter(x, [r["ap_drop_pct"] for r in rows], label="AP drop, all detections")
    ax2.scatter(x, [r["ap_drop_confident_pct"] for r in rows], marker="x", label=f"AP drop, scores >= {CONFIDENT}")
    for r in rows:
        if r["seed_setting"]:
            ax2.annotate(f"{r['nms_top_k']}/{r['top_k']}/{r['confidence']}", (r["t1_cpu_ms"], r["ap_drop_pct"]),
                         fontsize=7)
    ax2.set_xlabel("ms per image (1 thread, CPU time)")
    ax2.set_ylabel("AP drop vs 5000/1000/0.1 (%)")
    ax2.set_title("Every setting: latency vs accuracy drop")
    ax2.legend()
    return output.save_figure(fig, out, "nms_topk.png")
