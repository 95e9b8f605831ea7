"""Whole models and their depthwise layers: this tree's convlab against another checkout's (its own
built extension), and onnxruntime, all in one process, runs interleaved, thread CPU time, medians.

Both convlab packages are imported under the name `convlab`: each is imported with the other's
modules out of sys.modules, and its own put back around each of its calls.

    PYTHONPATH=src .venv/bin/python experiments/dw_s2/models.py BASE_SRC MODEL.onnx[:input=1x3x480x800] ...
"""
from __future__ import annotations

import contextlib
import statistics
import sys
import time

import numpy as np


def import_convlab(src):
    for name in [m for m in sys.modules if m == "convlab" or m.startswith("convlab.")]:
        del sys.modules[name]
    sys.path.insert(0, src)
    import convlab.engine  # noqa: F401
    import convlab.bench.models  # noqa: F401
    import convlab.peers.onnxruntime_conv  # noqa: F401
    sys.path.remove(src)
    return {m: v for m, v in sys.modules.items() if m == "convlab" or m.startswith("convlab.")}


@contextlib.contextmanager
def using(mods):
    sys.modules.update(mods)
    yield mods["convlab.engine"]


def main():
    base_src, specs = sys.argv[1], sys.argv[2:]
    trees = {"base": import_convlab(base_src), "new": import_convlab("src")}
    repeat = 25
    for spec in specs:
        path, _, shape = spec.partition(":")
        with open(path, "rb") as f:
            data = f.read()
        models = {}
        for name, mods in trees.items():
            with using(mods) as engine:
                shapes = None
                if shape:
                    inp, dims = shape.split("=")
                    shapes = {inp: tuple(int(d) for d in dims.split("x"))}
                models[name] = engine.Model.load(path, shapes)
        feeds = models["new"].random_inputs()
        ort_bytes, _ = trees["new"]["convlab.bench.models"].ort_model_bytes(data)
        sess = trees["new"]["convlab.peers.onnxruntime_conv"].ort_session(ort_bytes, 1)
        runs = {"base": lambda: models["base"].run(feeds), "new": lambda: models["new"].run(feeds),
                "ort": lambda: sess.run(None, feeds)}
        outs = {k: f() for k, f in runs.items()}
        for k in ("base", "new"):
            for a, b in zip(outs[k].values(), outs["ort"]):
                assert np.allclose(a, b, rtol=1e-3, atol=1e-3), (k, np.abs(a - b).max())
        t = {k: [] for k in runs}
        for _ in range(3):
            for f in runs.values():
                f()
        for _ in range(repeat):
            for k, f in runs.items():
                t0 = time.thread_time()
                f()
                t[k].append(time.thread_time() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        print(f"{path}{' ' + shape if shape else ''}: base {med['base']:.3f} ms, new {med['new']:.3f} ms "
              f"(new/base {med['new'] / med['base']:.3f}), ort {med['ort']:.3f} ms "
              f"(base/ort {med['base'] / med['ort']:.3f}, new/ort {med['new'] / med['ort']:.3f})", flush=True)
        # depthwise layers: per-layer profiles, alternated
        profs = {"base": [], "new": []}
        for _ in range(5):
            for name in ("base", "new"):
                with using(trees[name]):
                    profs[name].append(models[name].profile(feeds, repeat=10, clock="cpu").rows)
        dw = {}
        for name, ps in profs.items():
            for rows in ps:
                for r in rows:
                    if "depthwise" in r["kernel"]:
                        dw.setdefault((r["layer"], r["input"], r["output"]), {}).setdefault(name, []).append(r["ms"])
        dw_tot = {"base": 0.0, "new": 0.0}
        for (layer, i, o), v in dw.items():
            b, n = statistics.median(v["base"]), statistics.median(v["new"])
            dw_tot["base"] += b
            dw_tot["new"] += n
            if b > 0.05:
                print(f"    {layer:<28} {i:>16} -> {o:<16} base {b:.3f} new {n:.3f} ms ({n / b:.2f}x)")
        print(f"    depthwise total: base {dw_tot['base']:.3f} ms, new {dw_tot['new']:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
