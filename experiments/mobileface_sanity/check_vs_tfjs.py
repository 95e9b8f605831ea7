"""The converted MobileFace vs TF.js itself on three inputs: max abs error / max |out| for onnxruntime and
both convlab engines on the converted ONNX. Needs `make setup` (the model, node and TF.js in the cache).

    PYTHONPATH=src .venv/bin/python experiments/mobileface_sanity/check_vs_tfjs.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skimage import data

from convlab import realmodels
from convlab.engine import Model
from convlab.face.align import align_face

sys.path.insert(0, str(Path(__file__).parent))
from sanity import ASTRONAUT_POINTS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TFJS = Path(os.environ.get("CONVLAB_CACHE") or Path.home() / ".cache" / "convlab") / "tfjs" / "node_modules"


def main():
    rng = np.random.default_rng(5)
    inputs = {"astronaut (aligned, BGR)": align_face(data.astronaut(), ASTRONAUT_POINTS)[0][None, ..., ::-1],
              "uniform 0..255": rng.uniform(0, 255, (1, 112, 112, 3)), "zeros": np.zeros((1, 112, 112, 3))}
    model = realmodels.path("mobileface")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for k, x in enumerate(inputs.values()):
            x.astype("<f4").tofile(f"{tmp}/{k}.in")
            jobs.append({"model": str(realmodels.source_path("mobileface")), "input": f"{tmp}/{k}.in",
                         "shape": list(x.shape), "output": f"{tmp}/{k}.out"})
        Path(tmp, "jobs.json").write_text(json.dumps(jobs))
        subprocess.run(["node", str(REPO / "tests" / "tfjs" / "run_tfjs.js"), f"{tmp}/jobs.json"], check=True,
                       env={**os.environ, "NODE_PATH": str(TFJS)})
        wanted = [np.fromfile(f"{tmp}/{k}.out", "<f4").reshape(1, 256) for k in range(len(inputs))]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    engines = {e: Model.load(model, engine=e) for e in ("native", "python")}
    for (name, x), want in zip(inputs.items(), wanted):
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)
        peak = np.abs(want).max()
        errs = {"onnxruntime": session.run(None, {"data": x})[0],
                **{f"convlab {e}": m.run({"data": x})["batchnorm0/add_1"] for e, m in engines.items()}}
        print(f"{name:<26} max|out| {peak:7.3f}  " + "  ".join(
            f"{k} {np.abs(v - want).max() / peak:.1e}" for k, v in errs.items()))


if __name__ == "__main__":
    main()
