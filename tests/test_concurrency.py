"""Issue 16: the concurrency contract. One prepared plan (any kernel, either backend) may be called
from several threads at once and gives each call the single-threaded answer; one engine Model may
not: a second concurrent run raises ModelInputError instead of returning wrong outputs."""
import threading

import numpy as np
import pytest

import convlab
from convlab.engine import Model
from convlab.engine.errors import ModelInputError

from engine_util import make_model, rand
from onnx import helper

SHAPES = {  # (weights, groups, input): 3x3 for im2col/winograd/direct, 1x1 (plain GEMM), depthwise
    "3x3": ((16, 8, 3, 3), 1, (1, 8, 20, 20)),
    "1x1": ((16, 8, 1, 1), 1, (1, 8, 20, 20)),
    "dw": ((8, 1, 3, 3), 8, (1, 8, 20, 20)),
}


def _cases():
    for e in convlab.registry.entries():
        for shape in SHAPES:
            yield e.algo, e.backend, shape


def _hammer(fn, inputs, expected, n_threads=4, rounds=15):
    errors, barrier = [], threading.Barrier(n_threads)

    def worker(t):
        barrier.wait()
        for r in range(rounds):
            i = (t + r) % len(inputs)
            got = fn(inputs[i])
            if not np.array_equal(got, expected[i]):
                errors.append((t, r, float(np.abs(got - expected[i]).max())))
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.parametrize("algo,backend,shape", list(_cases()), ids=lambda v: str(v))
def test_one_plan_hammered_from_threads_matches_single_threaded(algo, backend, shape):
    wshape, groups, xshape = SHAPES[shape]
    e = convlab.registry.get(algo, backend)
    if e.unavailable():
        pytest.skip(e.unavailable())
    try:
        plan = convlab.prepare_conv(rand(*wshape), rand(wshape[0], seed=2), padding=1 if wshape[2] == 3 else 0,
                                    groups=groups, activation="relu", algo=algo, backend=backend)
    except convlab.errors.UnsupportedConvError:
        pytest.skip("kernel does not take this shape")
    # different inputs (and two sizes) per thread, so shared scratch would mix them up
    inputs = [rand(*xshape, seed=10 + i) for i in range(3)] + [rand(2, xshape[1], 13, 17, seed=20)]
    expected = [plan(x) for x in inputs]
    assert _hammer(plan, inputs, expected) == []


def _model():
    w = rand(8, 3, 3, 3)
    m = make_model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
                    helper.make_node("Relu", ["c"], ["y"], name="relu")], {"x": (1, 3, 64, 64)}, ["y"], {"w": w})
    return m.SerializeToString()


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_one_model_run_from_two_threads_refuses_the_second(backend):
    model = Model.load(_model(), conv="direct", backend=backend)
    x = rand(1, 3, 64, 64)
    want = model.run({"x": x})["y"]
    outcomes, barrier = [], threading.Barrier(4)

    def worker():
        barrier.wait()
        for _ in range(20):
            try:
                outcomes.append(("ok", np.array_equal(model.run({"x": x})["y"], want)))
            except ModelInputError as e:
                outcomes.append(("refused", str(e)))
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v for kind, v in outcomes if kind == "ok"), "a concurrent run returned a wrong answer"
    assert any(kind == "refused" for kind, _ in outcomes), "4 threads x 20 runs never overlapped"
    refusals = [v for kind, v in outcomes if kind == "refused"]
    assert all("already running in another thread" in v and "one Model per thread" in v for v in refusals)
    assert model.run({"x": x})["y"].tolist() == want.tolist()   # usable again afterwards


def test_one_model_per_thread_is_fine():
    data = _model()
    x = rand(1, 3, 64, 64)
    want = Model.load(data, conv="direct").run({"x": x})["y"]
    results = []

    def worker():
        m = Model.load(data, conv="direct")
        results.extend(np.array_equal(m.run({"x": x})["y"], want) for _ in range(10))
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results and all(results)


def test_workqueue_threading_layer_is_serialised_not_aborted():
    """Numba's fallback threading layer aborts the process (rc 134) when two threads launch parallel
    kernels at once; convlab serialises Numba kernel calls under it instead."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    code = ("import threading, numpy as np, convlab\n"
            "plan = convlab.prepare_conv(np.ones((16, 8, 3, 3), np.float32), padding=1, algo='im2col', "
            "backend='numba', threads=2)\n"
            "x = np.ones((1, 8, 40, 40), np.float32); want = plan(x)\n"
            "bad = []\n"
            "def w():\n"
            "    for _ in range(30): bad.append(not np.array_equal(plan(x), want))\n"
            "ts = [threading.Thread(target=w) for _ in range(4)]; [t.start() for t in ts]; [t.join() for t in ts]\n"
            "import numba; assert numba.threading_layer() == 'workqueue'\n"
            "print('wrong' if any(bad) else 'ok')\n")
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue",
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
