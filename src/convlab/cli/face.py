"""`convlab run`, `convlab verify`, `convlab gallery`: the face pipeline from the command line.

Without --detector/--fitter/--extractor each stage uses the trained built-in model of its role when
`make setup` has cached one (face.models.default_models: CenterFace, then MTCNN O-Net), else
the zoo model built in memory from a fixed seed, with a note saying what to install. Zoo models are
untrained: the faces they "find" are arbitrary, their templates say nothing about identity; what is
real with them is the runner: stage outputs, per-stage times, budget verdicts for this machine.
Every output names the model of each stage and whether it is trained.
Coordinates are pixels of the image as it is displayed (EXIF orientation applied), x right, y
down, with the image covering [0, W] x [0, H].
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ..errors import ConvlabError
from ..face.budgets import BUDGETS_MS, verdicts
from ..face.image import BUILTIN_PREFIX, builtin_names
from .npu import add_stage_option

DEMO_IMAGE = BUILTIN_PREFIX + "astronaut"
UNTRAINED_NOTE = ("note: the zoo models are untrained (seeded weights): these faces are arbitrary; "
                  "timings and stage outputs are what is real")
# What an untrained fitter / extractor behind a trained detector makes of the output.
UNTRAINED_STAGE_NOTES = {"fitter": "the landmarks come from the untrained zoo fitter: they are arbitrary, and so is "
                                   "the alignment",
                         "extractor": "the templates come from the untrained zoo extractor: their cosines say nothing "
                                      "about identity"}


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models (default: the trained built-in model of each stage when `make setup` cached "
                             "it, else the zoo's, built in memory from a fixed seed)")
    g.add_argument("--detector", metavar="X.onnx",
                   help="detector model (spec: X.json next to it, or --detector-spec), builtin:NAME (e.g. "
                        "builtin:centerface), zoo, or zoo:NAME (e.g. zoo:faceboxes)")
    g.add_argument("--fitter", metavar="Y.onnx",
                   help="fitter model, builtin:NAME (e.g. builtin:mtcnn_onet), 'zoo', or 'none' to use the "
                        "detector's own landmarks")
    g.add_argument("--extractor", metavar="Z.onnx", help="template extractor model, builtin:NAME, or zoo")
    g.add_argument("--detector-spec", metavar="SPEC")
    g.add_argument("--fitter-spec", metavar="SPEC")
    g.add_argument("--extractor-spec", metavar="SPEC")
    g.add_argument("--seed", type=int, default=0, help="seed of the zoo models (default 0)")
    e = p.add_argument_group("execution")
    e.add_argument("--backend", default=None,
                   help="a convlab kernel backend (c, numba, ...) to run on convlab's engine, or onnxruntime as "
                        "the reference; default: convlab's default backend, c (numba when the C extension is "
                        "not built)")
    e.add_argument("--conv", default="auto", help="convlab conv algorithm (default auto); convlab backends only")
    e.add_argument("--decision-table", metavar="FILE",
                   help="decision table algo=auto reads (default: $CONVLAB_DECISION_TABLE if set, else the one shipped "
                        "for this device, results/<device-id>/decision.json of convlab's data)")
    e.add_argument("--passes", default=None, help="convlab graph passes, comma-separated; convlab backends only")
    e.add_argument("--threads", type=int, default=1)
    d = p.add_argument_group("detection")
    d.add_argument("--score-threshold", type=float, default=0.5)
    d.add_argument("--nms-iou", type=float, default=0.4)
    d.add_argument("--top-k", type=int, default=750, help="candidates kept before NMS")
    d.add_argument("--max-faces", type=int, default=10)
    d.add_argument("--resize", choices=["stretch", "letterbox"], default=None,
                   help="how the image is fitted to the detector input (default: letterbox for a built-in "
                        "detector, stretch otherwise)")
    d.add_argument("--crop-expand", type=float, default=1.0, help="fitter crop = detector box grown by this")
    d.add_argument("--blur-threshold", type=float, default=None,
                   help="reject images whose variance of the Laplacian is below this (e.g. 100)")


def apply_default_models(args) -> list[str]:
    """Fill the stages the user left unnamed with face.models.default_models(); returns its notes for
    the stages it filled."""
    from ..face.models import default_models
    chosen, notes = default_models()
    unnamed = {role for role in ("detector", "extractor") if getattr(args, role) is None}
    if args.detector is None and args.fitter is None:
        args.fitter = chosen["fitter"]
    for role in unnamed:
        setattr(args, role, chosen[role])
    return [notes[role] for role in ("detector", "extractor") if role in unnamed and role in notes]


def models_line(models: dict) -> str:
    trained = {True: "trained", False: "UNTRAINED", None: "user file"}
    return "models: " + ", ".join(f"{role} {d['model']} ({trained[d['trained']]})" for role, d in models.items())


def model_notes(pipe) -> list[str]:
    """What the untrained stages mean for the output."""
    m = pipe.models
    if m["detector"]["trained"] is False:
        return [UNTRAINED_NOTE]
    return [f"note: {text}" for role, text in UNTRAINED_STAGE_NOTES.items() if m[role]["trained"] is False]


def pipeline_from_args(args):
    from ..face.models import build_pipeline
    from ..face.runners import engine_options
    runner, opts = engine_options(args.backend, conv=args.conv, passes=args.passes)
    return build_pipeline(args.detector, args.fitter, args.extractor, detector_spec=args.detector_spec,
                          fitter_spec=args.fitter_spec, extractor_spec=args.extractor_spec, runner=runner,
                          engine_options=opts, threads=args.threads, score_threshold=args.score_threshold,
                          nms_iou=args.nms_iou, top_k=args.top_k, max_faces=args.max_faces, resize=args.resize,
                          crop_expand=args.crop_expand, blur_threshold=args.blur_threshold, seed=args.seed)


@contextlib.contextmanager
def placed_pipeline(args):
    """pipeline_from_args() with the --stage placements applied while the block runs (NPU stages in the
    simulator: the toolkit's worker is started for them and stopped at the end)."""
    if not args.stage:
        yield pipeline_from_args(args)
        return
    from ..face.models import resolve
    from ..npu.pipeline import placed
    from .npu import stage_placements
    stages, options = stage_placements(args)
    pipe = pipeline_from_args(args)

    def model_of(stage):
        return resolve(stage, getattr(args, stage), getattr(args, f"{stage}_spec"), args.seed)

    with placed(pipe, stages, options, model_of, args.threads):
        yield pipe


def _where(args) -> str:
    from ..registry import resolve_backend
    return ", ".join([resolve_backend(args.backend)] + args.stage)


def _format_budget(b: dict) -> str:
    if b.get("simulated"):
        return f"{b['ms']:9.2f} ms  sim." if b["ms"] is not None else f"{'n/a (no face)':>18}"
    if b["pass"] is None:
        return f"{'n/a (no face)':>18}"
    return f"{b['ms']:9.2f} ms {'PASS' if b['pass'] else 'FAIL'}"


def print_result(res, *, backend: str, threads: int) -> None:
    h, w = res.image.shape[:2]
    print(f"image {w}x{h}: {len(res.faces)} face(s)")
    for i, f in enumerate(res.faces):
        box = ", ".join(f"{v:.1f}" for v in f.box)
        pts = " ".join(f"({x:.1f},{y:.1f})" for x, y in f.landmarks)
        print(f"  #{i} score {f.score:.4f} box [{box}] landmarks {pts}")
    print(f"stages ({backend}, {threads} thread(s)):   wall ms    CPU ms (calling thread)")
    for k, v in res.stages.items():
        sim = "  RKNN simulator time, not NPU latency" if k in res.simulated else ""
        print(f"  {k:<10} {v:20.2f} {res.cpu_stages.get(k, 0.0):9.2f}{sim}")
    wall, cpu = res.budgets(), verdicts(res.cpu_stages, len(res.faces), res.simulated)
    print(f"RK3568 budgets per face, measured on {wall['machine']}:")
    print(f"  {'':<34} {'wall clock':>18}   {'CPU time':>18}")
    for name, limit in BUDGETS_MS.items():
        print(f"  {name + f' (<= {limit:.0f} ms)':<34} {_format_budget(wall[name])}   {_format_budget(cpu[name])}")
    if any(wall[name].get("simulated") for name in BUDGETS_MS):
        from ..face.budgets import SIMULATED_NOTE
        print(f"  sim.: {SIMULATED_NOTE}")


def cmd_run(args) -> int:
    image = DEMO_IMAGE if args.demo else args.image
    if image is None:
        raise ConvlabError("convlab run: give an IMAGE or --demo")
    if args.repeat < 1:
        raise ConvlabError(f"--repeat must be >= 1, got {args.repeat}")
    if args.save_vis:              # before the run, not after it
        from pathlib import Path

        from ..paths import check_existing_dir
        check_existing_dir(Path(args.save_vis).parent, what=f"--save-vis {args.save_vis}")
    notes = apply_default_models(args)
    with placed_pipeline(args) as pipe:
        res = pipe.run_repeated(image, args.repeat, warmup=not args.cold)
        crosscheck = crosscheck_lines(args, pipe, image) if args.crosscheck else []
    if args.save_vis:
        from ..face.visualise import save_visualisation
        save_visualisation(res.image, res.faces, args.save_vis)
    if args.json:
        print(json.dumps({**res.to_json(), "models": pipe.models}))
    else:
        print(models_line(pipe.models))
        print_result(res, backend=_where(args), threads=args.threads)
        if args.save_vis:
            print(f"visualisation written to {args.save_vis}")
    for line in crosscheck:       # on stderr when stdout carries JSON
        print(line, file=sys.stderr if args.json else sys.stdout)
    for line in notes + model_notes(pipe):
        print(line, file=sys.stderr)
    return 0


def crosscheck_lines(args, pipe, image) -> list[str]:
    """Stage-by-stage differences against onnxruntime, as lines to print."""
    from ..face.crosscheck import stage_diffs
    ref = pipeline_from_args(argparse.Namespace(**{**vars(args), "backend": "onnxruntime", "conv": "auto",
                                                   "passes": None}))
    diffs, ref_res, res = stage_diffs(image, ref, pipe)
    lines = [f"crosscheck against onnxruntime ({_where(args)} on the same stage inputs):"]
    for d in diffs.values():
        extra = ("; " + "; ".join(d.problems)) if d.problems else ""
        lines.append(f"  {d.stage:<10} {d.calls:3d} call(s)  max |diff| {d.max_abs:.3g}  "
                     f"(max |ref| {d.max_ref:.3g}, relative {d.relative:.3g}){extra}")
    lines.append(f"  end to end: {len(ref_res.faces)} face(s) on onnxruntime, {len(res.faces)} on {_where(args)}")
    return lines


def decision_threshold(args, pipe, notes: list[str]) -> tuple[float, str]:
    """--threshold, else the extractor's measured one, else the old default (face.compare.same_threshold), and
    where it came from; adds a note to `notes` when a stale cached spec hides a measured threshold."""
    from ..face.compare import same_threshold
    from ..face.models import stale_threshold_note
    if args.threshold is None:
        notes += stale_threshold_note(args.extractor, pipe.extractor.spec)
    return same_threshold(args.threshold, pipe.extractor.spec)


def cmd_verify(args) -> int:
    from ..face.compare import cosine, l2_distance
    notes = apply_default_models(args)
    with placed_pipeline(args) as pipe:
        ta, ra = pipe.template(args.image_a)
        tb, rb = pipe.template(args.image_b)
    cos, l2 = cosine(ta, tb), l2_distance(ta, tb)
    threshold, source = decision_threshold(args, pipe, notes)
    same = cos >= threshold
    out = {"cosine": round(cos, 6), "l2": round(l2, 6), "threshold": threshold, "threshold_source": source,
           "same_person": same, "faces": [ra.faces[0].to_json(), rb.faces[0].to_json()], "models": pipe.models}
    if args.json:
        print(json.dumps(out))
    else:
        print(models_line(pipe.models))
        print(f"cosine {cos:.6f}  L2 {l2:.6f}  threshold {threshold:g} ({source}): "
              f"{'SAME person' if same else 'DIFFERENT people'}")
    for line in notes + model_notes(pipe):
        print(line, file=sys.stderr)
    return 0


def cmd_gallery(args) -> int:
    from ..face.gallery import Gallery
    if args.action == "list":
        names = Gallery(args.gallery).names()
        if args.json:
            print(json.dumps(names))
        else:
            for n, c in names.items():
                print(f"{n}\t{c} template(s)")
            print(f"{len(names)} name(s) in {args.gallery}")
        return 0
    if args.action == "remove":
        n = Gallery(args.gallery).remove(args.name)
        print(f"removed {args.name!r} ({n} template(s))")
        return 0
    notes = apply_default_models(args)
    pipe = pipeline_from_args(args)
    g = Gallery(args.gallery, extractor=pipe.extractor.fingerprint)
    template, _ = pipe.template(args.image)
    if args.action == "enroll":
        n = g.enroll(args.name, template)
        print(f"enrolled {args.name!r} ({n} template(s)) in {args.gallery}; {models_line(pipe.models)}")
    else:
        threshold, source = decision_threshold(args, pipe, notes)
        matches = g.identify(template, top=args.top)
        rows = [{"name": m.name, "score": round(m.score, 6), "match": m.score >= threshold} for m in matches]
        if args.json:
            print(json.dumps({"threshold": threshold, "threshold_source": source, "candidates": rows,
                              "models": pipe.models}))
        else:
            print(models_line(pipe.models))
            print(f"threshold {threshold:g} ({source})")
            if not rows:
                print("the gallery is empty")
            for r in rows:
                print(f"{r['name']}\tcosine {r['score']:.6f}\t{'MATCH' if r['match'] else '-'}")
    for line in notes + model_notes(pipe):
        print(line, file=sys.stderr)
    return 0


def cmd_latency(args) -> int:
    from ..face import latency
    from ..face.budgets import machine_description
    if args.repeat < 1:
        raise ConvlabError(f"--repeat must be >= 1, got {args.repeat}")
    choices = [c.strip() for c in args.choices.split(",") if c.strip()]
    results = latency.measure(args.image, choices, repeat=args.repeat, threads=args.threads, passes=args.passes,
                              clock=args.clock, max_faces=args.max_faces, score_threshold=args.score_threshold)
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
        return 0
    clock = "wall-clock" if args.clock == "wall" else "calling-thread CPU"
    print(f"per-stage latency ({clock} ms), median of {args.repeat} interleaved rounds after a warm-up, "
          f"{args.threads} thread(s), {args.max_faces} face(s) at most, on {machine_description()}")
    print(latency.table(results))
    worst = max(r.spread.get(k, 0.0) for r in results for k in ("detector", "fitter", "extractor"))
    print(f"largest (max - min) / median of a network stage over the rounds: {worst:.0%} "
          "(a shared machine makes this large; compare choices within one run)")
    print(UNTRAINED_NOTE)
    return 0


def register(sub) -> None:
    builtins = ", ".join(BUILTIN_PREFIX + n for n in builtin_names())
    p = sub.add_parser("run", help="run the face pipeline on an image",
                       description=f"Detect, fit, align and extract every face in IMAGE (a PNG/JPEG file or "
                                   f"{builtins}; the photographs other than astronaut and camera are cached by "
                                   f"`make setup`, see `convlab photos list`). The models are the trained built-in "
                                   f"ones when cached, else the zoo's; the output names them.")
    p.add_argument("image", nargs="?", metavar="IMAGE")
    p.add_argument("--demo", action="store_true", help=f"use the built-in photo {DEMO_IMAGE}")
    p.add_argument("--json", action="store_true", help='print {"faces": [...], "stages": {...}, "budgets": {...}}')
    p.add_argument("--save-vis", metavar="OUT.png", help="write the image with boxes and landmarks drawn")
    p.add_argument("--repeat", type=int, default=1,
                   help="timed runs after one untimed warm-up run; each stage's median is reported (default 1)")
    p.add_argument("--cold", action="store_true",
                   help="no warm-up run: the times then include JIT compilation and first-touch costs")
    p.add_argument("--crosscheck", action="store_true",
                   help="also feed every stage's inputs to onnxruntime and report the largest differences")
    add_pipeline_options(p)
    add_stage_option(p)
    p.set_defaults(func=cmd_run)

    v = sub.add_parser("verify", help="1:1 verification of the best face in two images")
    v.add_argument("image_a", metavar="A")
    v.add_argument("image_b", metavar="B")
    v.add_argument("--threshold", type=float, default=None,
                   help="cosine similarity for 'same person' (default: the one measured for the extractor, in its "
                        "spec's decoding.same_threshold; 0.5 when it names none)")
    v.add_argument("--json", action="store_true")
    add_pipeline_options(v)
    add_stage_option(v)
    v.set_defaults(func=cmd_verify)

    lt = sub.add_parser("face-latency", help="per-stage pipeline latency for several kernel choices",
                        description="Per-stage latency of the face pipeline (zoo models) for each kernel choice, "
                                    "interleaved rounds, with the RK3568 budget verdicts for this machine.")
    lt.add_argument("image", nargs="?", default=DEMO_IMAGE, metavar="IMAGE", help=f"default {DEMO_IMAGE}")
    lt.add_argument("--choices", default="onnxruntime,numba:auto,c:auto",
                    help="comma-separated: onnxruntime or BACKEND[:CONV] (default onnxruntime,numba:auto,c:auto)")
    lt.add_argument("--repeat", type=int, default=5)
    lt.add_argument("--threads", type=int, default=1)
    lt.add_argument("--passes", default=None, help="convlab graph passes (default all)")
    lt.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: the calling thread's CPU time, which leaves out time other processes took on a "
                         "shared machine (single thread only)")
    lt.add_argument("--max-faces", type=int, default=1, help="faces fitted and extracted per run (default 1)")
    lt.add_argument("--score-threshold", type=float, default=0.5)
    lt.add_argument("--json", action="store_true")
    lt.set_defaults(func=cmd_latency)

    g = sub.add_parser("gallery", help="1:N identification against a gallery file")
    g.add_argument("--gallery", default="convlab_gallery.json", metavar="PATH",
                   help="gallery file (default ./convlab_gallery.json)")
    gs = g.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = gs.add_parser("enroll", help="add the best face of IMAGE under NAME")
    e.add_argument("name")
    e.add_argument("image", metavar="IMAGE")
    add_pipeline_options(e)
    i = gs.add_parser("identify", help="rank gallery names against the best face of IMAGE")
    i.add_argument("image", metavar="IMAGE")
    i.add_argument("--top", type=int, default=5)
    i.add_argument("--threshold", type=float, default=None,
                   help="cosine similarity for a MATCH (default: the one measured for the extractor, in its "
                        "spec's decoding.same_threshold; 0.5 when it names none)")
    i.add_argument("--json", action="store_true")
    add_pipeline_options(i)
    r = gs.add_parser("remove", help="remove every template of NAME")
    r.add_argument("name")
    ls = gs.add_parser("list", help="names and template counts")
    ls.add_argument("--json", action="store_true")
    for action in (e, i, r, ls):   # --gallery also after the action: `gallery identify IMG --gallery G`
        action.add_argument("--gallery", default=argparse.SUPPRESS, metavar="PATH",
                            help="gallery file (default ./convlab_gallery.json)")
    g.set_defaults(func=cmd_gallery)
