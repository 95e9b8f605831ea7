"""convlab-run (the plan without Python) against Model.load's run (the same plan from Python), per zoo
model, 1 thread, CPU time: alternating rounds of each, medians of the rounds' medians.

    python experiments/native_engine/runner_vs_load.py [--rounds 3] [--repeat 30]

The issue asks the x86-64 plan in convlab-run to time "within noise" of Model.load: what Python adds
per call is the feed copy and the output copies.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from convlab.engine import Model
from convlab.zoo import DEFAULT_MODELS, build_model

RUNNER = Path(__file__).resolve().parents[2] / "csrc" / "build" / "convlab-run"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    subprocess.run(["make", "-s", "-C", str(RUNNER.parents[1]), "runner"], check=True)
    print(f"{'model':14s} {'convlab-run cpu ms':>19s} {'Model.run cpu ms':>17s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in DEFAULT_MODELS:
            m = Model.load(build_model(name).model)
            plan = Path(tmp) / f"{name}.clp"
            plan.write_bytes(m.executor.plan_bytes("host"))
            feeds = m.random_inputs()
            run_ms, load_ms = [], []
            for _ in range(args.rounds):
                r = subprocess.run([str(RUNNER), str(plan), "--repeat", str(args.repeat), "--warmup", "3", "--json"],
                                   capture_output=True, text=True, check=True)
                run_ms.append(json.loads(r.stdout)["cpu_median_ms"])
                for _ in range(3):
                    m.run(feeds)
                ts = []
                for _ in range(args.repeat):
                    t0 = time.thread_time()
                    m.run(feeds)
                    ts.append(time.thread_time() - t0)
                load_ms.append(1e3 * float(np.median(ts)))
            a, b = float(np.median(run_ms)), float(np.median(load_ms))
            print(f"{name:14s} {a:19.3f} {b:17.3f} {b / a:6.3f}")


if __name__ == "__main__":
    main()
