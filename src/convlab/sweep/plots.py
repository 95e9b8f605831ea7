"""PNG figures from results: log latency vs shape index per kernel (the seed charts' form), and a map
of the winning kernel over (C, W) per kernel size; the seed's own curves and map beside ours when
the sweep reproduces a seed study.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from .grid import PEERS  # noqa: E402
from .tables import REFERENCE_DIR, cells, read_reference  # noqa: E402


def _tag(threads: int, k: int, stride: int, op: str) -> str:
    return f"{'' if op == 'conv' else op + '_'}k{k}" + (f"s{stride}" if stride != 1 else "") + f"_t{threads}"


def planned_files(rows: list[dict], name: str, out_dir: Path) -> list[Path]:
    """The PNGs plot_all will write (checked for overwrites before it runs)."""
    return [out_dir / f"{name}_{kind}_{_tag(*key)}.png" for key in sorted(cells(rows)) for kind in ("latency", "winners")]


def plot_all(rows: list[dict], name: str, out_dir: Path, reference: str | None = None,
             ref_dir: Path = REFERENCE_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    ref = read_reference(reference, ref_dir)
    paths = []
    all_cells = cells(rows)
    for (threads, k, stride, op), shapes in sorted(all_cells.items()):
        tag = _tag(threads, k, stride, op)
        title = f"{name}: {'' if op == 'conv' else op + ' '}{k}x{k}{f' stride {stride}' if stride != 1 else ''}, " \
                f"{threads} thread(s)"
        # the seed's figures go beside the panels of the op it measured
        seed = ref if ref and (op == "conv") == (ref[0] != "depthwise") else None
        paths.append(_latency(shapes, seed, title, out_dir / f"{name}_latency_{tag}.png"))
        versus = all_cells.get((threads, k, stride, "conv")) if op != "conv" else None
        paths.append(_winners(shapes, seed, title, out_dir / f"{name}_winners_{tag}.png", op, versus))
    return paths


def _latency(shapes: dict, ref, title: str, path: Path) -> Path:
    keys = sorted(shapes)
    cols = sorted({c for t in shapes.values() for c in t})
    fig, axes = plt.subplots(1, 2 if ref else 1, figsize=(13 if ref else 8, 4.5), squeeze=False)
    ax = axes[0][0]
    colors = plt.get_cmap("tab20").colors
    for n, c in enumerate(cols):
        pts = [(i, shapes[s][c]) for i, s in enumerate(keys) if c in shapes[s]]
        ls = ":" if c in PEERS else "--" if c.endswith("/numba") else "-"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=ls, marker=".", lw=1, color=colors[n % 20], label=c)
    _shape_axis(ax, [f"{w}/{ci}" for w, h, ci, co in keys], "this host")
    if ref:
        x, data = ref
        rax = axes[0][1]
        for dev in sorted({d for d, *_ in data}):
            pts = sorted((w, c, v) for (d, w, h, c), v in data.items() if d == dev)
            for j, (lab, ls) in enumerate((("direct", "-"), (x, "--"))):
                rax.plot(range(len(pts)), [p[2][j] for p in pts], ls=ls, marker=".", lw=1, label=f"{dev} {lab}")
        # every seed device shares one grid, so the last device's points label the axis
        _shape_axis(rax, [f"{w}/{c}" for w, c, _ in pts], "seed (LINE DevDay 2019, cited)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _shape_axis(ax, labels: list[str], subtitle: str) -> None:
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log)")
    ax.set_xlabel("shape index (W/C, in the seed tables' order)")
    step = max(1, len(labels) // 12)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=60, fontsize=7)
    ax.set_title(subtitle, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _winners(shapes: dict, ref, title: str, path: Path, op: str = "conv", versus: dict | None = None) -> Path:
    """The fastest kernel per (C, W); for depthwise ops also whether the op beat the fastest standard
    conv of the same cell, which is what the seed's depthwise study compared (as direct vs DWC)."""
    # only this lab's kernels: the choice algo="auto" makes
    single = {s: {c: v for c, v in t.items() if c not in PEERS} for s, t in shapes.items()}
    grids = [("this host: fastest kernel", {(s[2], s[0]): min(t, key=t.get) for s, t in single.items() if t})]
    if versus:
        best = {s: min(v for c, v in t.items() if c not in PEERS) for s, t in versus.items()
                if any(c not in PEERS for c in t)}
        grids.append((f"this host: standard conv vs {op}", {
            (s[2], s[0]): ("standard conv" if best[s] < min(t.values()) else op) for s, t in single.items()
            if t and s in best}))
    if ref:
        x, data = ref
        names = {"direct": "standard conv" if versus else "direct", x: op if versus else x}
        for dev in sorted({d for d, *_ in data}):
            grids.append((f"seed {dev}", {(c, w): names["direct" if v[0] <= v[1] else x]
                                          for (d, w, h, c), v in data.items() if d == dev}))
    names = sorted({a for _, g in grids for a in g.values()})
    cmap = ListedColormap(plt.get_cmap("tab10").colors[:max(len(names), 1)])
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids) + 1, 4), squeeze=False)
    for ax, (sub, g) in zip(axes[0], grids):
        cs, ws = sorted({c for c, _ in g}), sorted({w for _, w in g})
        img = [[names.index(g[(c, w)]) if (c, w) in g else float("nan") for w in ws] for c in cs]
        ax.imshow(img, cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5, origin="lower", aspect="auto")
        for i, c in enumerate(cs):
            for j, w in enumerate(ws):
                if (c, w) in g:
                    ax.text(j, i, g[(c, w)].replace("_", "\n").replace(" ", "\n"), ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(ws)), ws)
        ax.set_yticks(range(len(cs)), cs)
        ax.set_xlabel("W = H")
        ax.set_ylabel("C")
        ax.set_title(sub, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i)) for i in range(len(names))]
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 6), fontsize=8)
    fig.suptitle(f"fastest kernel -- {title}")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
