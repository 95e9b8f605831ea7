"""RKNN-Toolkit2 worker: the only code that imports rknn.api. Runs in the rknn venv, started by
toolkit.Toolkit as `python worker.py`; imports nothing from convlab, so it works whatever convlab
(if any) that venv has installed.

Protocol: after import it writes one JSON line (toolkit version, or the import error); then for
each request line {"op": ..., "args": {...}} one reply line {"ok": true, "result": {...}} or
{"ok": false, "error": "..."}. Arrays travel as .npy files named in the request / result.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from importlib import metadata


class StepFailed(RuntimeError):
    pass


def _check(ret, step: str) -> None:
    # The toolkit reports most failures as a non-zero return code plus an "E" log line.
    if ret not in (0, None):
        raise StepFailed(f"{step} returned {ret}")


def _message(e: BaseException) -> str:
    # rknn wraps its errors as ValueError("Traceback ...\nValueError: <the cause, maybe several lines>").
    text = str(e).strip()
    cut = max(text.rfind("\n" + p) + len(p) + 1 if ("\n" + p) in text else -1
              for p in ("ValueError: ", "RuntimeError: ", "Exception: "))
    cause = text[cut:] if cut > 0 else text
    return " ".join(ln.strip() for ln in cause.splitlines() if ln.strip()) or type(e).__name__


def _set_fp16_layers(cfg_path: str, layers: list[str], strict: bool) -> list[str]:
    """Mark layers float16 in the quantization config step 1 wrote; returns the names used."""
    from ruamel.yaml import YAML
    with open(cfg_path) as f:
        known = list(YAML(typ="safe").load(f)["quantize_parameters"])
    chosen = []
    for name in layers:
        # The accuracy analysis names requantised outputs "<tensor>_int8"; the config names the tensor.
        candidates = [name] + [name[: -len(s)] for s in ("__int8", "_int8") if name.endswith(s)]
        match = next((c for c in candidates if c in known), None)
        if match is None and strict:
            raise StepFailed(f"layer {name!r} is not in the quantization config; layers are: "
                             f"{', '.join(known[:40])}{' ...' if len(known) > 40 else ''}")
        if match is not None and match not in chosen:
            chosen.append(match)
    if not chosen:
        raise StepFailed(f"none of the layers {layers} is in the quantization config")
    with open(cfg_path) as f:
        text = f.read()
    block = "custom_quantize_layers:\n" + "".join(f"    {json.dumps(n)}: float16\n" for n in chosen)
    if "custom_quantize_layers: {}\n" not in text:
        raise StepFailed(f"unexpected quantization config format in {cfg_path}")
    with open(cfg_path, "w") as f:
        f.write(text.replace("custom_quantize_layers: {}\n", block, 1))
    return chosen


def _proposed_layers(cfg_path: str) -> list[str]:
    """The layers the toolkit's own proposal (step 1, proposal=True) marked float16."""
    from ruamel.yaml import YAML
    with open(cfg_path) as f:
        return list(YAML(typ="safe").load(f).get("custom_quantize_layers") or {})


def _convert(model: str, workdir: str, dtype: str, config: dict, dataset: str | None,
             fp16_layers: list[str] | None, strict_layers: bool, proposal: bool = False):
    """A built RKNN object (the caller releases it) and the layers kept in fp16. Hybrid keeps
    `fp16_layers`, or with `proposal` the layers the toolkit proposes."""
    from rknn.api import RKNN
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)                   # hybrid step 1 writes its files into the current directory
    rknn = RKNN(verbose=False)
    try:
        _check(rknn.config(**config), "config")
        _check(rknn.load_onnx(model=model), "load_onnx")
        if dtype != "hybrid":
            _check(rknn.build(do_quantization=dtype == "int8", dataset=dataset), "build")
            return rknn, []
        _check(rknn.hybrid_quantization_step1(dataset=dataset, proposal=proposal, proposal_dataset_size=1),
               "hybrid_quantization_step1")
        stem = os.path.splitext(os.path.basename(model))[0]
        cfg = f"{stem}.quantization.cfg"
        kept = _proposed_layers(cfg) if proposal else _set_fp16_layers(cfg, fp16_layers or [], strict_layers)
        rknn.release()
        rknn = RKNN(verbose=False)
        _check(rknn.config(**config), "config")
        _check(rknn.hybrid_quantization_step2(model_input=f"{stem}.model", data_input=f"{stem}.data",
                                              model_quantization_cfg=f"{stem}.quantization.cfg"),
               "hybrid_quantization_step2")
        return rknn, kept
    except BaseException:
        rknn.release()
        raise


def _infer(rknn, inputs: list[str], out_dir: str) -> tuple[list[list[str]], list[float]]:
    """Simulator outputs for each NCHW .npy input, saved as .npy files, and the seconds each
    inference call took (the simulator's wall time on this host, not the NPU's)."""
    import numpy as np
    outputs, seconds = [], []
    for path in inputs:
        x = np.load(path)
        t0 = time.perf_counter()
        # data_format is explicit: the toolkit's default is NHWC, convlab's tensors are NCHW.
        outs = rknn.inference(inputs=[x], data_format="nchw")
        seconds.append(time.perf_counter() - t0)
        if outs is None:
            raise StepFailed(f"inference on {path} returned nothing")
        stem = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0])
        names = [f"{stem}.out{j}.npy" for j in range(len(outs))]
        for name, o in zip(names, outs):
            np.save(name, np.asarray(o, dtype=np.float32))
        outputs.append(names)
    return outputs, seconds


def build(model: str, workdir: str, dtype: str, config: dict, dataset: str | None = None,
          fp16_layers: list[str] | None = None, strict_layers: bool = True, proposal: bool = False,
          export: str | None = None, inputs: list[str] = (), analyse: str | None = None) -> dict:
    """Convert `model`; optionally export it, run it in the simulator on `inputs` (NCHW .npy files)
    and run the toolkit's per-layer accuracy analysis on the `analyse` input."""
    rknn, kept = _convert(model, workdir, dtype, config, dataset, fp16_layers, strict_layers, proposal)
    result: dict = {"fp16_layers": kept}
    try:
        if export:
            _check(rknn.export_rknn(export), "export_rknn")
        if inputs or analyse:
            _check(rknn.init_runtime(), "init_runtime (simulator)")
        result["outputs"], result["infer_seconds"] = _infer(rknn, list(inputs), workdir)
        if analyse:
            out_dir = os.path.join(workdir, "analysis")
            t0 = time.perf_counter()
            _check(rknn.accuracy_analysis(inputs=[analyse], output_dir=out_dir), "accuracy_analysis")
            result["analysis_seconds"] = time.perf_counter() - t0
            with open(os.path.join(out_dir, "error_analysis.txt")) as f:
                result["analysis"] = f.read()
    finally:
        rknn.release()
    return result


SESSIONS: dict[int, tuple] = {}
_KEYS = itertools.count(1)


def open_session(model: str, workdir: str, dtype: str, config: dict, dataset: str | None = None,
                 fp16_layers: list[str] | None = None, strict_layers: bool = True, proposal: bool = False) -> dict:
    """Convert and start the simulator once; `infer` then runs it as often as asked."""
    rknn, kept = _convert(model, workdir, dtype, config, dataset, fp16_layers, strict_layers, proposal)
    try:
        _check(rknn.init_runtime(), "init_runtime (simulator)")
    except BaseException:
        rknn.release()
        raise
    key = next(_KEYS)
    SESSIONS[key] = (rknn, workdir)
    return {"session": key, "fp16_layers": kept}


def infer(session: int, inputs: list[str]) -> dict:
    rknn, workdir = SESSIONS[session]
    outputs, seconds = _infer(rknn, inputs, workdir)
    return {"outputs": outputs, "infer_seconds": seconds}


def close_session(session: int) -> dict:
    SESSIONS.pop(session)[0].release()
    return {}


OPS = {"build": build, "open": open_session, "infer": infer, "close": close_session}


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                       # the toolkit's chatter goes to the log, not the protocol

    def send(reply: dict) -> None:
        proto.write(json.dumps(reply) + "\n")
        proto.flush()

    try:
        from rknn.api import RKNN  # noqa: F401
        import numpy
        info = {"toolkit": metadata.version("rknn-toolkit2"), "python": sys.version.split()[0],
                "numpy": numpy.__version__, "onnx": metadata.version("onnx")}
    except Exception as e:  # whatever the import raises, the caller gets it as text
        send({"ok": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    send({"ok": True, "result": info})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            send({"ok": True, "result": OPS[request["op"]](**request["args"])})
        except Exception as e:  # report every toolkit failure to the caller and keep serving
            send({"ok": False, "error": _message(e)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
