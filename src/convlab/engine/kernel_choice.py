"""Which conv kernel each layer gets: the requested one if it supports the layer, else the best
supported one, with the reason recorded so the profile can say what happened.

Requests come from the model-wide ``conv``/``backend`` options or a per-layer override file
(JSON or YAML: ``{layer name: "algo" | "algo/backend" | {algo: ..., backend: ...}}``).
"""
from __future__ import annotations

import json
import os

from .. import registry
from ..api import prepare_conv
from ..errors import ConvlabError
from .errors import ModelInputError

# Where to look when the requested backend cannot run a layer at all (fastest first).
FALLBACK_BACKENDS = ("c", "numba", "numpy")


def read_overrides(source) -> dict[str, dict]:
    """An override mapping, or a JSON/YAML file of one -> {layer: {"algo": a, "backend": b}}."""
    if source is None:
        return {}
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ModelInputError(f"override file {path}: no such file")
        with open(path) as f:
            text = f.read()
        try:
            if path.endswith((".yaml", ".yml")):
                import yaml
                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as e:
            raise ModelInputError(f"override file {path} cannot be parsed: {e}") from None
    else:
        data = source
    if not isinstance(data, dict):
        raise ModelInputError(f"overrides must map layer names to kernels, got {type(data).__name__}")
    out = {}
    for layer, v in data.items():
        if isinstance(v, str):
            algo, _, backend = v.partition("/")
            v = {"algo": algo, **({"backend": backend} if backend else {})}
        if not isinstance(v, dict) or not set(v) <= {"algo", "backend"} or not v:
            raise ModelInputError(f"override for layer {layer!r} must be 'algo', 'algo/backend' or "
                                  f"{{algo: ..., backend: ...}}, got {v!r}")
        out[str(layer)] = v
    return out


def check_request(algo: str, backend: str, where: str = "") -> None:
    """Names no kernel has are typos, not fallbacks: reject them at load."""
    backends = registry.backends()
    algos = sorted({e.algo for e in registry.entries()})
    if backend not in backends:
        raise ModelInputError(f"{where}unknown backend {backend!r}; known: {', '.join(backends)}")
    if algo != "auto" and algo not in algos:
        raise ModelInputError(f"{where}unknown conv algorithm {algo!r}; known: auto, {', '.join(algos)}")


def choose(w, b, spec, input_hw, algo: str, backend: str, threads: int):
    """(plan, note): a prepared conv plan and, if it is not what was asked for, why."""
    kwargs = dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation, groups=spec.groups,
                  activation=spec.activation, threads=threads, input_hw=input_hw)
    asked = f"{algo}/{backend}"
    reasons = []
    attempts = [(algo, backend)]
    if algo != "auto":
        attempts.append(("auto", backend))
    attempts += [("auto", bk) for bk in FALLBACK_BACKENDS if bk != backend]
    known = set(registry.backends())
    for a, bk in attempts:
        if bk not in known:
            reasons.append(f"no {bk} backend")
            continue
        try:
            plan = prepare_conv(w, b, algo=a, backend=bk, **kwargs)
        except ConvlabError as e:
            reasons.append(str(e))
            continue
        if (a, bk) == (algo, backend):
            return plan, ""
        return plan, f"asked {asked}: {reasons[0]}"
    # The oracle supports every convolution: slow, but the model still runs and the note says why.
    plan = prepare_conv(w, b, algo="reference", backend="numpy", **kwargs)
    return plan, f"asked {asked}: {'; '.join(reasons)}"
