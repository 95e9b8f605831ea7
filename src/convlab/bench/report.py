"""Human-readable rendering of benchmark results (the JSON form is the result dict itself)."""
from __future__ import annotations

from tabulate import tabulate


def machine_header(m: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    missing = [k for k, v in m["versions"].items() if not v]
    lines = [f"machine: {m['cpu']} ({m['arch']}; {', '.join(m['isa']) or 'no SIMD flags found'}), "
             f"{m['usable_cores']}/{m['cores']} cores usable, threads {m['threads']}, load average {m['load_average']}",
             f"versions: {versions}" + (f"; not installed: {', '.join(missing)}" if missing else ""),
             f"convlab git: {m['git']}"]
    return "\n".join(lines)


def _f(v, fmt):
    return "" if v is None else format(v, fmt)


def format_conv_table(result: dict) -> str:
    conv = result["conv"]
    head = (f"conv {conv['spec']} on input {'x'.join(map(str, conv['input_shape']))}, "
            f"{conv['flops'] / 1e9:.3f} GFLOP (direct-equivalent)")
    rows = []
    for r in result["rows"]:
        if r["status"] == "ok":
            iqr = f"{r['iqr_ms']:.3f} ({100 * r['iqr_ms'] / r['median_ms']:.0f}%)" if r["median_ms"] else ""
            note = "" if r["converged"] else "precision target not reached"
        else:
            iqr, note = "", f"{r['status']}: {r['reason']}"
        rows.append([r["name"], _f(r["prepare_ms"], ".2f"), _f(r["median_ms"], ".3f"), iqr, _f(r["cpu_ms"], ".3f"),
                     _f(r["gflops"], ".1f"), _f(r["ratio_ort"], ".2f"), _f(r["cpu_ratio_ort"], ".2f"), note])
    table = tabulate(rows, headers=["kernel", "prepare ms", "run median ms", "IQR ms", "cpu ms", "GFLOP/s",
                                    "time / ort", "cpu / ort", "note"], disable_numparse=True)
    return "\n".join([machine_header(result["machine"]), head, "", table])
