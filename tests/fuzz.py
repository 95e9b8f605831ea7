"""Fuzzing convlab (issue 16): mutated zoo models and bad conv arguments, deterministic per seed.

Every case runs in a worker subprocess (many cases per process, restarted after a crash or a hang),
so a segfault or a hang is recorded against its case instead of ending the run. Per case:

- model cases: a zoo model (the small fitter and extractor, 112x112) with one or two seeded
  mutations (attribute values, types, presence; node inputs and outputs; initializer dims and
  values; op types; opset; input shape), loaded and run by convlab (C backend, auto kernels) and by
  onnxruntime (no graph optimisation) on the same random input;
- conv cases: convlab.conv2d / prepare_conv with seeded bad or odd arguments (dtypes, ranks,
  parameter types and values, groups, activations, algos, backends, out= buffers), checked against
  the float64 reference when they run.

Findings: crash, hang, raw (an exception that is not a ConvlabError), disagree (both ran,
outputs differ), accepts-invalid (onnxruntime refuses, convlab returns outputs). "stricter"
(convlab refuses a model onnxruntime runs: unsupported ops, or a documented stricter check) is
counted, not a finding.

    python tests/fuzz.py --model-cases 2000 --conv-cases 2000     # `make fuzz`
"""
from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
ZOO_MODELS = ("fitter", "extractor")
FINDINGS = ("crash", "hang", "raw", "disagree", "accepts-invalid", "harness-error")


# ---------------------------------------------------------------- mutations (worker side)

def _mutate(model, rng):
    """Apply one seeded mutation to `model` (in place); returns its description."""
    import numpy as np
    from onnx import AttributeProto, helper, numpy_helper
    g = model.graph
    nodes = list(g.node)
    kind = str(rng.choice(["attr_value", "attr_value", "attr_type", "attr_drop", "attr_add", "input_drop",
                           "input_extra", "input_rewire", "output_extra", "init_dims", "init_values",
                           "node_drop", "node_dup", "op_swap", "opset", "input_shape", "output_shape",
                           "init_dup"]))
    node = nodes[int(rng.integers(len(nodes)))]
    ints = [-2, -1, 0, 1, 2, 3, 5, 2**31, 2**62]
    if kind == "attr_value":
        cands = [a for n in nodes for a in n.attribute if a.type in (AttributeProto.INT, AttributeProto.INTS)]
        a = cands[int(rng.integers(len(cands)))]
        v = int(rng.choice(ints))
        if a.type == AttributeProto.INT:
            a.i = v
        elif a.ints and rng.random() < 0.7:
            a.ints[int(rng.integers(len(a.ints)))] = v
        elif a.ints and rng.random() < 0.5:
            del a.ints[-1]
        else:
            a.ints.append(v)
        return f"{kind} {a.name}"
    if kind == "attr_type":
        cands = [(n, a) for n in nodes for a in n.attribute]
        n, a = cands[int(rng.integers(len(cands)))]
        name = a.name
        n.attribute.remove(a)
        n.attribute.append(helper.make_attribute(name, str(rng.choice(["1", "x", "2,2"]))) if rng.random() < 0.5
                           else helper.make_attribute(name, [1.5, 2.0]))
        return f"{kind} {n.name}.{name}"
    if kind == "attr_drop":
        cands = [(n, a) for n in nodes for a in n.attribute]
        n, a = cands[int(rng.integers(len(cands)))]
        n.attribute.remove(a)
        return f"{kind} {n.name}.{a.name}"
    if kind == "attr_add":
        name, value = [("group", int(rng.choice(ints))), ("axis", int(rng.choice(ints))),
                       ("ceil_mode", 1), ("auto_pad", str(rng.choice(["SAME_UPPER", "VALID", "bogus"]))),
                       ("kernel_shape", [int(rng.choice(ints))] * 2), ("bogus_attr", 1)][int(rng.integers(6))]
        for a in list(node.attribute):
            if a.name == name:
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(name, value))
        return f"{kind} {node.name}.{name}={value}"
    values = [i.name for i in g.input] + [o for n in nodes for o in n.output] + [t.name for t in g.initializer]
    if kind == "input_drop" and node.input:
        del node.input[-1]
        return f"{kind} {node.name}"
    if kind == "input_extra":
        node.input.append(str(rng.choice(values)))
        return f"{kind} {node.name}"
    if kind == "input_rewire" and node.input:
        k = int(rng.integers(len(node.input)))
        node.input[k] = str(rng.choice(values))
        return f"{kind} {node.name}[{k}]"
    if kind == "output_extra":
        node.output.append(f"fuzz_extra_{rng.integers(1000)}")
        return f"{kind} {node.name}"
    if kind in ("init_dims", "init_values") and g.initializer:
        t = g.initializer[int(rng.integers(len(g.initializer)))]
        a = numpy_helper.to_array(t)
        if kind == "init_dims":
            if a.ndim and rng.random() < 0.5:
                new = numpy_helper.from_array(np.ascontiguousarray(np.swapaxes(a, 0, -1)), t.name)
            else:
                new = numpy_helper.from_array(a.reshape(-1)[: max(1, a.size // 2)].copy(), t.name)
        else:
            scale = float(rng.choice([0.0, -1.0, 1e3, 1e-30]))
            new = numpy_helper.from_array((a * scale).astype(a.dtype) if a.dtype.kind == "f" else a, t.name)
        t.CopyFrom(new)
        return f"{kind} {t.name}"
    if kind == "node_drop":
        g.node.remove(node)
        return f"{kind} {node.name}"
    if kind == "node_dup":
        dup = g.node.add()
        dup.CopyFrom(node)
        dup.name = node.name + "_dup"
        return f"{kind} {node.name}"
    if kind == "output_shape" and g.output:
        o = g.output[int(rng.integers(len(g.output)))]
        dims = o.type.tensor_type.shape.dim
        if dims:
            dims[int(rng.integers(len(dims)))].dim_value = int(rng.choice([1, 2, 5, 1000]))
            return f"{kind} {o.name}"
    if kind == "init_dup" and g.initializer:
        t = g.initializer.add()
        t.CopyFrom(g.initializer[int(rng.integers(len(g.initializer) - 1))])
        return f"{kind} {t.name}"
    if kind == "op_swap":
        swaps = {"Relu": ["Sigmoid", "HardSwish", "Identity"], "Clip": ["Relu"], "PRelu": ["Add", "Mul"],
                 "Add": ["Mul", "Sub", "Concat"], "Mul": ["Add"], "MaxPool": ["AveragePool"],
                 "AveragePool": ["MaxPool"], "GlobalAveragePool": ["GlobalMaxPool", "Flatten"],
                 "Conv": ["ConvTranspose"], "BatchNormalization": ["Identity"], "Reshape": ["Flatten", "Concat"],
                 "Gemm": ["MatMul"], "Flatten": ["Identity"]}
        if node.op_type in swaps:
            old = node.op_type
            node.op_type = str(rng.choice(swaps[old]))
            return f"{kind} {node.name} {old}->{node.op_type}"
    if kind == "opset":
        model.opset_import[0].version = int(rng.choice([7, 8, 9, 10, 11, 12, 13, 16, 18, 21, 22]))
        return f"{kind} {model.opset_import[0].version}"
    if kind == "input_shape":
        dims = g.input[0].type.tensor_type.shape.dim
        k = int(rng.integers(len(dims)))
        # batch stays small: a 224-image batch is minutes of honest work, not a hang
        dims[k].dim_value = int(rng.choice([0, 1, 2, 3] if k == 0 else [0, 1, 2, 3, 7, 31, 97, 224]))
        return f"{kind} dim{k}={dims[k].dim_value}"
    return "none"


def _feeds_for(model, m=None):
    import numpy as np
    if m is not None:
        return m.random_inputs(seed=3)
    inits = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(3)
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = [max(1, min(d.dim_value, 512)) if d.dim_value else 1 for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def _ort(model_bytes, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 4
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        s = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
        return s.run(None, feeds), None
    except Exception as e:
        return None, " ".join(str(e).split())[:200]


def _close(got, want) -> str | None:
    import numpy as np
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return f"output {k}: shape {g.shape} vs onnxruntime {w.shape}"
        if g.dtype.kind != "f":
            if not np.array_equal(g, w):
                return f"output {k}: values differ"
            continue
        fin = np.isfinite(w)
        if not np.array_equal(fin, np.isfinite(g)):
            return f"output {k}: non-finite values differ"
        scale = max(1.0, float(np.abs(w[fin]).max()) if fin.any() else 1.0)
        err = float(np.abs(g[fin].astype(np.float64) - w[fin]).max()) if fin.any() else 0.0
        if err > 1e-3 * scale:
            return f"output {k}: max error {err:.3g} (scale {scale:.3g})"
    return None


def model_case(base: dict, case: int, seed: int) -> dict:
    import numpy as np
    import onnx
    from convlab.engine import Model
    from convlab.errors import ConvlabError
    rng = np.random.default_rng([seed, case])
    name = ZOO_MODELS[case % len(ZOO_MODELS)]
    model = onnx.ModelProto()
    model.ParseFromString(base[name])
    what = [_mutate(model, rng) for _ in range(1 + int(rng.random() < 0.3))]
    data = model.SerializeToString()
    try:
        m = Model.load(data, conv="auto", backend="c", passes="all")
        feeds = _feeds_for(model, m)
        got = m.run(feeds)
        got = [got[o] for o in m.outputs]
        ours = None
    except ConvlabError as e:
        m, got, ours = None, None, " ".join(str(e).split())[:200]
        feeds = _feeds_for(model)
    except Exception as e:
        return dict(verdict="raw", model=name, mutation=what, error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
    want, theirs = _ort(data, feeds)
    out = dict(model=name, mutation=what)
    if ours is None and theirs is None:
        why = _close(got, want)
        return dict(out, verdict="disagree", detail=why) if why else dict(out, verdict="agree")
    if ours is None:
        return dict(out, verdict="accepts-invalid", onnxruntime=theirs)
    if theirs is None:
        return dict(out, verdict="stricter", convlab=ours)
    return dict(out, verdict="both-refuse", convlab=ours, onnxruntime=theirs)


def _conv_args(rng):
    """Valid arguments, then (in 70% of cases) one or two of them replaced by a bad or odd value."""
    import numpy as np
    import convlab

    def pick(options):
        return options[int(rng.integers(len(options)))]
    n, c, h, w = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(3, 14)), int(rng.integers(3, 14)))
    depthwise = rng.random() < 0.2
    groups = c if depthwise else pick([1, 1, 1] + [g for g in (2, 3) if c % g == 0])
    c_out = c if depthwise else groups * int(rng.integers(1, 5))
    k = pick([(1, 1), (3, 3), (3, 3), (5, 5), (2, 3)])
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((c_out, c // groups, *k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32) if rng.random() < 0.5 else None
    kw = dict(stride=pick([1, 1, 2, (1, 2)]), padding=pick([0, 1, 2, (1, 0), (0, 1, 2, 1)]), dilation=pick([1, 1, 2]),
              groups=groups, activation=pick([None, "relu", "relu6", "sigmoid", "hardswish", ("leaky_relu", 0.1),
                                              ("prelu", np.full(c_out, 0.2, np.float32))]),
              algo=pick([e.algo for e in convlab.registry.entries()] + ["auto"] * 8),
              backend=pick(["numba", "c"]), threads=pick([1, 1, 2]))
    out_kind = "none"
    scalar = [0, -1, 2**31, 2**40, 1.0, 1.5, "1", "12", True, None, np.float32(1), b"1"]
    pair = [(0, 1), (1.7, 0.9), (1, 1, 1), (), np.array([1.0, 1.0]), [1, "1"]]
    for _ in range(int(rng.choice([0, 1, 1, 2], p=[0.3, 0.4, 0.2, 0.1]))):
        what = pick(["x", "x", "w", "b", "stride", "padding", "dilation", "groups", "activation", "algo", "backend",
                     "threads", "out", "out", "out"])
        if what == "x" and isinstance(x, np.ndarray) and x.ndim == 4 and min(x.shape) > 0:
            x = pick([x.astype(np.float64), x.astype(np.int32), x.astype(np.float16), x[0], x[None],
                      np.asfortranarray(x), x[:, :, ::2], np.zeros((0,) + x.shape[1:], np.float32),
                      np.zeros((n, c, 0, w), np.float32), x[:, :1] if c > 1 else x[:, :0], x.tolist(),
                      np.full_like(x, np.nan), np.full_like(x, np.inf), x.astype(">f4")])
        elif what == "w" and isinstance(wt, np.ndarray) and wt.ndim == 4 and min(wt.shape) > 0:
            wt = pick([wt.astype(np.float64), wt[0], wt[:, :, :0], np.asfortranarray(wt), wt[:, :1],
                       np.zeros((0,) + wt.shape[1:], np.float32), np.zeros((c_out, c, 40, 40), np.float32)])
        elif what == "b":
            b = pick([np.zeros(c_out + 1, np.float32), np.zeros((c_out, 1), np.float32), np.zeros(c_out),
                      [0.0] * c_out, np.float32(0)])
        elif what in ("stride", "dilation"):
            kw[what] = pick(scalar + pair)
        elif what == "padding":
            kw[what] = pick(scalar + pair + [(-1, 0, 0, 0), (1, 2, 3), 10**6, 2**40])
        elif what == "groups":
            kw[what] = pick([0, -1, 1.0, True, "1", c + 1, 2**40, None])
        elif what == "activation":
            kw[what] = pick(["bogus", ("leaky_relu", "x"), ("leaky_relu", float("nan")), 3, ("prelu", np.ones(2)),
                             ("prelu", "ab"), ("prelu", None), ("relu", 1), ("prelu", [[1, 2], [3]])])
        elif what == "algo":
            kw[what] = pick(["bogus", None, 3, "AUTO", ""])
        elif what == "backend":
            kw[what] = pick(["bogus", "numpy", None, 3])
        elif what == "threads":
            kw[what] = pick([0, -1, 2**31, 1.0, True, "2", None])
        else:
            out_kind = pick(["good", "readonly", "alias", "wrong_shape", "f64", "list", "fortran"])
    return x, wt, b, kw, out_kind


def conv_case(case: int, seed: int) -> dict:
    import numpy as np
    import convlab
    from convlab.errors import ConvlabError
    rng = np.random.default_rng([seed, 10**6 + case])
    x, wt, b, kw, out_kind = _conv_args(rng)
    def d(a):
        return f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else repr(a)[:40]
    desc = dict(x=d(x), w=d(wt), b=d(b), out=out_kind, **{k: repr(v)[:40] for k, v in kw.items()})
    try:
        x_ok = isinstance(x, np.ndarray) and x.ndim == 4 and min(x.shape[2:4]) > 0
        plan = convlab.prepare_conv(wt, b, input_hw=x.shape[2:4] if x_ok and kw["algo"] == "auto" else None, **kw)
        out = None
        if out_kind != "none" and isinstance(x, np.ndarray) and x.ndim == 4 and x.dtype == np.float32 \
                and min(x.shape) > 0:
            shape = plan.output_shape(x.shape)
            out = {"good": lambda: np.zeros(shape, np.float32),
                   "readonly": lambda: np.frombuffer(bytes(4 * int(np.prod(shape))), np.float32).reshape(shape),
                   "alias": lambda: x.reshape(-1)[: int(np.prod(shape))].reshape(shape)
                   if x.size >= np.prod(shape) and x.flags.c_contiguous else np.zeros(shape, np.float32),
                   "wrong_shape": lambda: np.zeros((1, 1, 1, 1), np.float32),
                   "f64": lambda: np.zeros(shape, np.float64),
                   "fortran": lambda: np.zeros(shape, np.float32, order="F"),
                   "list": lambda: [0.0]}[out_kind]()
        y = plan(x, out=out) if out is not None else plan(x)
    except ConvlabError as e:
        return dict(verdict="refused", error=" ".join(str(e).split())[:200], **desc)
    except Exception as e:
        return dict(verdict="raw", error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}", **desc)
    ref = convlab.conv2d(x.astype(np.float32), wt, b, **dict(kw, algo="reference", backend="numpy", threads=1))
    factor = convlab.registry.get(plan.algo, plan.backend).error_factor if hasattr(plan, "algo") else 250
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.nanmax(np.abs(y.astype(np.float64) - ref))) if y.shape == ref.shape else float("inf")
    if y.shape != ref.shape or err > 1e-5 * factor * scale * 10:
        return dict(verdict="disagree", detail=f"max error {err:.3g} vs the reference (scale {scale:.3g})", **desc)
    return dict(verdict="agree", **desc)


def worker(cases: list[str], seed: int, cache: Path) -> None:
    """Run the given cases ("m17", "c4"), one JSON line before and after each."""
    import warnings
    warnings.simplefilter("ignore")
    base = {}
    if any(c.startswith("m") for c in cases):
        cache.mkdir(parents=True, exist_ok=True)
        for name in ZOO_MODELS:
            p = cache / f"{name}.onnx"
            if not p.exists():
                from convlab.zoo import build_model
                tmp = p.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(build_model(name, seed=0).model.SerializeToString())
                os.replace(tmp, p)
            base[name] = p.read_bytes()
    for c in cases:
        print(json.dumps({"start": c}), flush=True)
        try:
            r = model_case(base, int(c[1:]), seed) if c[0] == "m" else conv_case(int(c[1:]), seed)
        except Exception as e:     # a bug of this harness, not of convlab: reported as its own finding
            import traceback
            r = dict(verdict="harness-error", error=traceback.format_exc()[-1500:])
        print(json.dumps({"case": c, **r}, default=str), flush=True)


# ---------------------------------------------------------------- driver (parent side)

def run(model_cases: int, conv_cases: int, seed: int = 0, timeout: float = 30.0, cache: Path | None = None,
        log=None) -> dict:
    """Run every case in worker subprocesses; returns {"results": {case: result}, "counts": {...}}."""
    cache = cache or Path(os.environ.get("TMPDIR", "/tmp")) / f"convlab-fuzz-{os.getuid()}"
    todo = [f"c{i}" for i in range(conv_cases)] + [f"m{i}" for i in range(model_cases)]
    results: dict[str, dict] = {}
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONFAULTHANDLER="1", CONVLAB_FUZZ_WORKER="1")
    while todo:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", "--seed", str(seed), "--cache", str(cache),
                                 *todo], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=HERE.parent)
        fd, buf, current = proc.stdout.fileno(), b"", None
        # the first case also waits for imports (and building the zoo models once)
        deadline = time.monotonic() + timeout + 120
        while True:
            if b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                msg = json.loads(line)
                if "start" in msg:
                    current = msg["start"]
                    deadline = time.monotonic() + timeout
                else:
                    results[msg.pop("case")] = msg
                    todo.remove(current)
                    current = None
                    if log:
                        log(len(results))
                continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                proc.kill()
                proc.wait()
                if current is None:
                    raise RuntimeError(f"fuzz worker stalled between cases: {proc.stderr.read().decode()[-2000:]}")
                results[current] = dict(verdict="hang", detail=f"no result within {timeout:g} s")
                todo.remove(current)
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                rc = proc.wait()
                err = proc.stderr.read().decode(errors="replace")
                if current is None:
                    if todo:
                        raise RuntimeError(f"fuzz worker exited (rc {rc}) between cases: {err[-2000:]}")
                    break
                results[current] = dict(verdict="crash", detail=f"exit code {rc}: {err[-1500:]}")
                todo.remove(current)
                break
            buf += chunk
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return {"results": results, "counts": counts}


def findings(report: dict) -> dict[str, dict]:
    return {k: r for k, r in report["results"].items() if r["verdict"] in FINDINGS}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-cases", type=int, default=2000)
    p.add_argument("--conv-cases", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("cases", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a.cases, a.seed, a.cache)
        return 0
    t0 = time.monotonic()
    report = run(a.model_cases, a.conv_cases, a.seed, a.timeout, a.cache,
                 log=lambda n: n % 100 or print(f"{n} cases, {time.monotonic() - t0:.0f} s", file=sys.stderr,
                                                flush=True))
    bad = findings(report)
    for k, r in sorted(bad.items()):
        print(k, json.dumps(r, default=str))
    print(f"{sum(report['counts'].values())} cases in {time.monotonic() - t0:.0f} s: "
          + ", ".join(f"{v} {k}" for k, v in sorted(report["counts"].items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
