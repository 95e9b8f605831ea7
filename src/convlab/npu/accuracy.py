"""Error metrics between a reference output and an NPU output, and the toolkit's per-layer
accuracy analysis (error_analysis.txt) as rows."""
from __future__ import annotations

import re

import numpy as np

# "[Conv] name   0.99998 | 0.86603   0.99998 | 0.86603": entire cos | euc, single cos | euc.
_ROW = re.compile(r"^\[(?P<op>[^\]]+)\]\s+(?P<layer>\S+)\s+(?P<ec>[-\d.eE+]+)\s*\|\s*(?P<ee>[-\d.eE+]+)"
                  r"\s+(?P<sc>[-\d.eE+]+)\s*\|\s*(?P<se>[-\d.eE+]+)")
# Layers the analysis lists that are not computations one can keep in fp16.
_NOT_LAYERS = ("Input", "exDataConvert")


def output_errors(reference: np.ndarray, got: np.ndarray) -> dict:
    """Cosine similarity of the flattened outputs, max and mean absolute error (float64)."""
    r = np.asarray(reference, np.float64).ravel()
    g = np.asarray(got, np.float64).ravel()
    if r.shape != g.shape:
        raise ValueError(f"output sizes differ: reference {reference.shape}, NPU {got.shape}")
    nr, ng = np.linalg.norm(r), np.linalg.norm(g)
    if nr == 0 or ng == 0:
        cosine = 1.0 if nr == ng else 0.0     # both all-zero agree; one all-zero does not
    else:
        cosine = float(r @ g / (nr * ng))
    diff = np.abs(r - g)
    return {"cosine": cosine, "max_abs": float(diff.max()), "mean_abs": float(diff.mean())}


def parse_analysis(text: str) -> list[dict]:
    """Rows of the toolkit's error_analysis.txt; layers fused into the next one have no figures
    and are left out."""
    rows = []
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if m:
            rows.append({"op": m["op"], "layer": m["layer"], "entire_cos": float(m["ec"]),
                         "entire_euc": float(m["ee"]), "single_cos": float(m["sc"]), "single_euc": float(m["se"])})
    return rows


def worst_layers(rows: list[dict], count: int) -> list[dict]:
    """The `count` computing layers with the lowest single-layer cosine (their own quantization error,
    not the error they inherit)."""
    layers = [r for r in rows if r["op"] not in _NOT_LAYERS]
    return sorted(layers, key=lambda r: r["single_cos"])[:count]
