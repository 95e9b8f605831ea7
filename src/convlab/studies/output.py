"""Where and how the studies write: tables as CSV and markdown, a JSON sidecar, the seed's CSVs."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..bench.machine import machine_info
from ..device import REFERENCE_DIR
from ..sweep.runner import default_out_dir
from ..fileio import atomic_write, write_json


def out_dir(out: str | Path | None) -> Path:
    return Path(out) if out else default_out_dir()


def write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    wr = csv.DictWriter(buf, cols, lineterminator="\n")
    wr.writeheader()
    wr.writerows({k: "" if r.get(k) is None else r[k] for k in cols} for r in rows)
    atomic_write(path, buf.getvalue())
    return path


def markdown(rows: list[dict], columns: dict[str, str], floatfmt: str = ".3f") -> str:
    """GitHub table of `rows`, columns {key: header}."""
    from tabulate import tabulate
    return tabulate([[r.get(k) for k in columns] for r in rows], headers=list(columns.values()),
                    tablefmt="github", floatfmt=floatfmt, missingval="")


def write_markdown(path: Path, title: str, sections: list[tuple[str, str]], meta: dict) -> Path:
    m = meta["machine"]
    head = [f"# {title}", "",
            f"{m['cpu']} ({m['arch']}), {m['usable_cores']} usable cores, load average at start {m['load_average']}, "
            f"git {m['git']}. {meta['timing']}", ""]
    body = [part for heading, text in sections for part in (f"## {heading}", "", text, "")]
    atomic_write(path, "\n".join(head + body))
    return path


def write_meta(path: Path, options: dict, timing: str, threads: int | None, extra: dict | None = None) -> dict:
    meta = {"machine": machine_info(threads), "options": options, "timing": timing, **(extra or {})}
    write_json(path, meta)
    return meta


def end_load(meta: dict, path: Path) -> None:
    """Record the load average at the end too: the machine is shared, the noise changes during a run."""
    import os
    meta["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    write_json(path, meta)


def figure(ncols: int, width: float):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(1, ncols, figsize=(width, 4.8))


def save_figure(fig, out: Path, name: str) -> list[str]:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return [name]


def grouped_bars(ax, labels: list[str], series: list[tuple[str, list[float]]]) -> None:
    """One bar group per label, one bar per series; the seed's series (named "... (seed)") plain, ours hatched."""
    import numpy as np
    w = 0.8 / len(series)
    for k, (name, vals) in enumerate(series):
        ax.bar(np.arange(len(labels)) + k * w, vals, w, label=name, hatch="" if "seed" in name else "//")
    ax.set_xticks(np.arange(len(labels)) + 0.4 - w / 2, labels)
    ax.legend(fontsize=7)


def read_reference(name: str) -> list[dict]:
    """Rows of results/reference/<name>.csv (seed figures), numbers as floats, empty cells as None."""
    path = REFERENCE_DIR / f"{name}.csv"
    with path.open() as f:
        return [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _num(v: str):
    if v == "":
        return None
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v
