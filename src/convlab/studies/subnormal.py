"""Subnormal study: how many weights are subnormal, what they cost here, and whether activations go subnormal.

1. Counts: subnormal weights per conv layer of any ONNX model (`--model`), or of the zoo models
   with a controlled fraction injected (`zoo.subnormal.inject_subnormals`: 0, 1 %, 10 %, 50 % of
   every conv's weights), as stored and as the kernels see them after the engine's BN folding.
2. Latency, single thread, per backend (numba, c, onnxruntime with all its optimisations):
   weights with subnormals vs the same weights flushed to zero (the engine's `flush_subnormals`
   pass; for onnxruntime the initializers are flushed the same way), timed round-robin in the
   default floating-point environment; then, in a second round-robin block under FTZ/DAZ
   (`convlab.fpenv.flush_denormals`, plus onnxruntime's `session.set_denormal_as_zero`), the
   same pair again. Ratios are taken within a block only.
3. Activations: an instrumented run (the engine without buffer reuse, so every intermediate
   tensor survives the run) counts subnormal values per tensor, on a real image.
4. Which mode is really in effect inside each backend's conv kernels is checked by behaviour: a
   1x1 conv whose only weight is subnormal, on input 1, gives a subnormal output unless the kernel
   runs with DAZ (0). `subnormal_microbench` isolates the per-operation cost.
Counting is done on the bits, never with float compares (which DAZ would change).
"""
from __future__ import annotations

import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..bench.timing import time_interleaved
from ..engine.passes import PASS_ORDER
from ..errors import ConvlabError
from ..zoo.subnormal import conv_weight_names, inject_subnormals
from . import output, subnormal_microbench
from ..peers.onnxruntime_conv import ort_model_bytes, ort_session
from .models import model_input, zoo_model
from .images import study_images

FRACTIONS = (0.0, 0.01, 0.1, 0.5)
BACKENDS = ("numba", "c", "onnxruntime")
NO_FLUSH = ",".join(p for p in PASS_ORDER if p != "flush_subnormals")


def subnormal_bits(a: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32) & 0x7FFFFFFF
    return (bits != 0) & (bits < 0x00800000)


def count(a: np.ndarray) -> int:
    return int(np.count_nonzero(subnormal_bits(a)))


def flushed(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with every subnormal float32 initializer value set to 0 (for onnxruntime)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for t in m.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(t)
            if count(a):
                t.CopyFrom(numpy_helper.from_array(np.where(subnormal_bits(a), np.float32(0), a), t.name))
    return m


def weight_counts(name: str, model: onnx.ModelProto, fraction: float, shapes: dict | None = None) -> list[dict]:
    """Per conv layer: weights, subnormal as stored, subnormal as the kernels see them (after the engine's
    passes without flushing) and after flushing."""
    from ..engine import Model
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    seen = {}
    for passes, key in ((NO_FLUSH, "subnormal_after_fold"), ("all", "subnormal_after_flush")):
        m = Model.load(model, shapes, passes=passes)
        seen[key] = {n.name: count(m.graph.consts[n.input(1)]) for n in m.graph.nodes if n.op == "Conv"}
    return [{"model": name, "fraction": fraction, "layer": layer, "weights": int(inits[w].size),
             "subnormal": count(inits[w]), "subnormal_after_fold": seen["subnormal_after_fold"].get(layer),
             "subnormal_after_flush": seen["subnormal_after_flush"].get(layer)}
            for layer, w in conv_weight_names(model)]


def activation_counts(name: str, model: onnx.ModelProto, feeds: dict, fraction: float) -> list[dict]:
    """Subnormal values per intermediate tensor in one run (the engine with no buffer reuse, no flushing)."""
    from ..engine import Model
    m = Model.load(model, {k: v.shape for k, v in feeds.items()}, passes=NO_FLUSH, backend="c", reuse=False)
    m.run(feeds)
    producer = {o: n for n in m.graph.nodes for o in n.outputs}
    rows = []
    for tensor, view in m.executor.arena.views.items():
        n = producer.get(tensor)
        rows.append({"model": name, "fraction": fraction, "tensor": tensor, "op": n.op if n else "",
                     "values": int(view.size), "subnormal": count(view)})
    return rows


def _runner(backend: str, model: onnx.ModelProto, feeds: dict, flush_weights: bool, daz: bool):
    if backend == "onnxruntime":
        data, _ = ort_model_bytes((flushed(model) if flush_weights else model).SerializeToString())
        s = ort_session(data, denormal_as_zero=daz)
        return lambda: s.run(None, feeds)
    from ..engine import Model
    m = Model.load(model, {k: v.shape for k, v in feeds.items()}, backend=backend, threads=1,
                   passes="all" if flush_weights else NO_FLUSH)
    return lambda: m.run(feeds)


def latency(name: str, model: onnx.ModelProto, feeds: dict, fraction: float, backends, repeats, max_time) -> list[dict]:
    from .. import fpenv
    rows = []
    for mode in ("default", "ftz+daz"):
        daz = mode == "ftz+daz"
        fns = {(b, w): _runner(b, model, feeds, w == "flushed", daz)
               for b in backends for w in ("subnormal", "flushed")}
        with fpenv.flush_denormals(daz, daz):
            t = time_interleaved(fns, repeats=repeats, max_time=max_time, progress="subnormal")
        for b in backends:
            sub, fl = t[(b, "subnormal")], t[(b, "flushed")]
            rows.append({"model": name, "fraction": fraction, "backend": b, "mode": mode,
                         "subnormal_cpu_ms": sub.cpu_median * 1e3, "flushed_cpu_ms": fl.cpu_median * 1e3,
                         "subnormal_wall_ms": sub.median * 1e3, "flushed_wall_ms": fl.median * 1e3,
                         "ratio_cpu": sub.cpu_median / fl.cpu_median, "ratio_wall": sub.median / fl.median})
    return rows


def _probe_model(w_bits: int) -> onnx.ModelProto:
    w = np.array([w_bits], np.uint32).view(np.float32).reshape(1, 1, 1, 1)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "probe",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
                          [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def kernel_probes(backends) -> list[dict]:
    """Per backend and mode: does a conv kernel's subnormal weight x 1 come out subnormal (no DAZ) or 0 (DAZ)?"""
    from .. import fpenv
    model, x = _probe_model(1 << 20), {"x": np.ones((1, 1, 4, 4), np.float32)}
    rows = []
    for mode in ("default", "ftz+daz"):
        daz = mode == "ftz+daz"
        for b in backends:
            fn = _runner(b, model, x, False, daz)
            with fpenv.flush_denormals(daz, daz):
                y = fn()
            y = np.asarray(y[0] if isinstance(y, list) else next(iter(y.values())))
            rows.append({"backend": b, "mode": mode, "output_subnormal": count(y), "outputs": int(y.size),
                         "daz_in_effect": count(y) == 0})
    return rows


def real_model_input(real, image: np.ndarray) -> dict[str, np.ndarray]:
    """A trained model's feed from one (3, H, W) RGB photo: resized to its benchmark shape, in its
    channel order, laid out and normalised as its RealModel entry says."""
    from skimage import transform
    n, a, b, c = real.bench_shape
    h, w = (b, c) if real.layout == "NCHW" else (a, b)
    x = transform.resize(image.transpose(1, 2, 0), (h, w), preserve_range=True, anti_aliasing=True)
    if real.channel_order == "BGR":
        x = x[..., ::-1]
    x = (x.astype(np.float32) - real.mean) / real.std
    x = np.broadcast_to(x.transpose(2, 0, 1) if real.layout == "NCHW" else x, real.bench_shape[1:])
    return np.ascontiguousarray(np.broadcast_to(x, real.bench_shape), np.float32)


def _real_models() -> list:
    """Every trained model in the cache (realmodels), fed the astronaut photograph."""
    from .. import realmodels
    _, images = study_images(512, 512, 0, people=("astronaut",))
    out = []
    for name, real in realmodels.MODELS.items():
        try:
            path = realmodels.path(name)
        except ConvlabError:
            continue                  # not fetched: the report lists what it studied
        m = onnx.load(str(path))
        feeds = {_graph_input(m): real_model_input(real, images[0])}
        out.append((f"{name} (trained)", lambda m=m: m, lambda f=feeds: f, (None,)))
    if not out:
        raise ConvlabError(f"no trained model is in the cache: {realmodels.FETCH_HINT}")
    return out


def _graph_input(m: onnx.ModelProto) -> str:
    inits = {t.name for t in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


def _models(model_path, quick, real=False):
    """[(name, model, feeds maker, fractions)]: a given ONNX file as is, every cached trained model
    on a photograph, or zoo models with injected fractions."""
    from .. import zoo
    if real:
        return _real_models()
    if model_path:
        try:
            m = onnx.load(str(model_path))
        except Exception as e:        # noqa: BLE001 (onnx raises many kinds for a bad file)
            raise ConvlabError(f"cannot read {model_path} as an ONNX model: {e}") from None
        from ..engine import Model
        feeds = Model.load(m, passes="none").random_inputs(seed=1)
        return [(str(model_path), lambda: m, lambda: feeds, (None,))]
    _, images = study_images(224, 224, 0, people=("astronaut",))
    out = []
    for name in (["fitter"] if quick else zoo.DEFAULT_MODELS):
        zm = zoo_model(name)
        out.append((name, lambda zm=zm: zm.model, lambda zm=zm: model_input(zm, images[0]),
                    (0.0, 0.1) if quick else FRACTIONS))
    return out


def _injected(model: onnx.ModelProto, fraction: float | None) -> tuple[onnx.ModelProto, int]:
    if not fraction:
        return model, 0
    m = onnx.ModelProto()
    m.CopyFrom(model)
    return m, sum(r.injected for r in inject_subnormals(m, fraction, seed=[11]))


def run(out_dir=None, quick: bool = False, model=None, latency_models=("detector", "mobilenet_v2"),
        backends=BACKENDS, repeats: int | None = None, max_time: float | None = None, real: bool = False) -> dict:
    out = output.out_dir(out_dir)
    repeats = repeats or (2 if quick else 9)
    max_time = max_time if max_time is not None else (0.5 if quick else 20.0)
    meta_path = out / "subnormal.json"
    timing = (f"Single thread. Median of >= {repeats} interleaved runs; ms is process CPU time, wall beside it. "
              f"Subnormal vs flushed weights are interleaved; the FTZ/DAZ pair is a second block.")
    meta = output.write_meta(meta_path, {"quick": quick, "model": str(model) if model else None, "real": real,
                                         "latency_models": list(latency_models), "backends": list(backends)},
                             timing, 1)
    t0 = time.perf_counter()
    weights, acts, lat = [], [], []
    for name, get_model, get_feeds, fractions in _models(model, quick, real):
        base, feeds = get_model(), get_feeds()
        for f in fractions:
            m, injected = _injected(base, f)
            rows = weight_counts(name, m, f, {k: v.shape for k, v in feeds.items()})
            for r in rows:
                r["injected_total"] = injected
            weights += rows
            acts += activation_counts(name, m, feeds, f)
            if model or real or quick or name in latency_models:
                lat += latency(name, m, feeds, f, backends, repeats, max_time)
    probes = kernel_probes(backends)
    micro, micro_probes = subnormal_microbench.run(repeats=repeats, max_time=max_time / 4)
    output.write_csv(out / "subnormal_weights.csv", weights)
    output.write_csv(out / "subnormal_activations.csv", acts)
    output.write_csv(out / "subnormal_latency.csv", lat)
    output.write_csv(out / "subnormal_microbench.csv", micro)
    output.write_csv(out / "subnormal_probes.csv", probes + [{"backend": "numba (microbenchmark kernel)", **p}
                                                             for p in micro_probes])
    seed = output.read_reference("line2019_subnormal")
    _write_md(out, weights, acts, lat, micro, probes, micro_probes, seed, meta)
    plots = _plot(out, lat, micro, seed)
    meta["seconds"] = time.perf_counter() - t0
    output.end_load(meta, meta_path)
    return {"weights": weights, "activations": acts, "latency": lat, "micro": micro, "probes": probes,
            "files": ["subnormal_weights.csv", "subnormal_activations.csv", "subnormal_latency.csv",
                      "subnormal_microbench.csv", "subnormal_probes.csv", "subnormal.md", "subnormal.json"] + plots}


def _totals(rows, keys, fields):
    out = {}
    for r in rows:
        k = tuple(r[x] for x in keys)
        t = out.setdefault(k, {**{x: r[x] for x in keys}, **{f: 0 for f in fields}, "layers": 0})
        t["layers"] += 1
        for f in fields:
            t[f] += r[f] or 0
    return list(out.values())


def _write_md(out, weights, acts, lat, micro, probes, micro_probes, seed, meta):
    wt = _totals(weights, ("model", "fraction"), ("weights", "subnormal", "subnormal_after_fold", "subnormal_after_flush"))
    at = _totals(acts, ("model", "fraction"), ("values", "subnormal"))
    for a in at:
        a["tensors_with_subnormals"] = sum(1 for r in acts if (r["model"], r["fraction"]) == (a["model"], a["fraction"])
                                           and r["subnormal"])
    seed_ratio = [{**s, "ratio": s["as_trained_ms"] / s["subnormals_replaced_ms"]} for s in seed]
    sections = [
        ("Latency: weights with subnormals vs flushed (ratio > 1 = subnormals cost time)",
         output.markdown(lat, {"model": "model", "fraction": "injected fraction", "backend": "backend", "mode": "FP mode",
                               "subnormal_cpu_ms": "subnormal ms", "flushed_cpu_ms": "flushed ms",
                               "ratio_cpu": "ratio (CPU)", "ratio_wall": "ratio (wall)"})),
        ("The seed's figures (LINE DevDay 2019: trained models as is vs subnormals replaced)",
         output.markdown(seed_ratio, {"device": "device", "geekbench_single_core": "Geekbench 1-core",
                                      "as_trained_ms": "as trained ms", "subnormals_replaced_ms": "replaced ms",
                                      "ratio": "ratio"}, ".2f")),
        ("Subnormal weights per model (all conv layers; per layer in subnormal_weights.csv)",
         output.markdown(wt, {"model": "model", "fraction": "injected fraction", "layers": "conv layers",
                              "weights": "weights", "subnormal": "subnormal (stored)",
                              "subnormal_after_fold": "after BN folding", "subnormal_after_flush": "after flush"}, ".2f")),
        ("Subnormal activations (instrumented run; per tensor in subnormal_activations.csv)",
         output.markdown(at, {"model": "model", "fraction": "injected fraction", "layers": "tensors",
                              "values": "values", "subnormal": "subnormal values",
                              "tensors_with_subnormals": "tensors with any"}, ".2f")),
        ("Microbenchmark: ns per element (CPU time), 4096-float L1-resident loops "
         "(mul, fma vectorised; dot scalar)",
         output.markdown(micro, {"op": "op", "case": "operands", "mode": "FP mode", "cpu_ns_per_element": "ns/element",
                                 "vs_normal": "vs normal", "result_subnormal": "subnormal results",
                                 "result_zero": "zero results"})),
        ("What mode the kernels run in (behavioural probes; MXCSR read inside a Numba kernel)",
         output.markdown(probes, {"backend": "backend", "mode": "mode requested", "output_subnormal": "subnormal outputs",
                                  "outputs": "outputs", "daz_in_effect": "DAZ in effect"})
         + "\n\n" + output.markdown(micro_probes, {"mode": "mode requested", "ftz": "FTZ seen in Numba",
                                                   "daz": "DAZ seen in Numba", "mxcsr": "MXCSR in Numba",
                                                   "fpenv": "convlab.fpenv.get()"})),
    ]
    output.write_markdown(out / "subnormal.md", "Subnormal study", sections, meta)


def _plot(out, lat, micro, seed) -> list[str]:
    fig, (ax, ax2) = output.figure(2, 13)
    for (model, backend, mode) in dict.fromkeys((r["model"], r["backend"], r["mode"]) for r in lat):
        pts = [(r["fraction"], r["ratio_cpu"]) for r in lat if (r["model"], r["backend"], r["mode"]) == (model, backend, mode)]
        ax.plot([100 * (p[0] or 0) for p in pts], [p[1] for p in pts], marker="o", ls="-" if mode == "default" else ":",
                label=f"{model} {backend} {mode}")
    for s in seed:
        ax.axhline(s["as_trained_ms"] / s["subnormals_replaced_ms"], color="grey", lw=0.8, ls="--")
        ax.annotate(f"{s['device']} (seed)", (0, s["as_trained_ms"] / s["subnormals_replaced_ms"]), fontsize=7)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("injected subnormal weights (% of each conv)")
    ax.set_ylabel("latency with subnormals / flushed")
    ax.set_title("Model latency ratio (seed devices dashed)")
    ax.legend(fontsize=6)
    labels = [f"{r['op']} {r['case']}" for r in micro if r["mode"] == "default"]
    for k, mode in enumerate(("default", "ftz+daz")):
        vals = [r["vs_normal"] for r in micro if r["mode"] == mode]
        ax2.bar(np.arange(len(vals)) + 0.4 * k, vals, 0.4, label=mode)
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xticks(np.arange(len(labels)) + 0.2, labels, rotation=45, ha="right", fontsize=7)
    ax2.set_ylabel("time per element / with normal operands")
    ax2.set_title("Microbenchmark: subnormal operands / results")
    ax2.legend()
    return output.save_figure(fig, out, "subnormal.png")
