"""Decision tables: the measured winner per shape, and readable rules learned from the winners.

Rules are a shallow decision tree per family (kernel size, stride, grouping) x backend x threads
over C_in, C_out, H, W. sklearn grows the tree on the winners; each leaf is then relabelled with
the algorithm of least total log-regret over the leaf's shapes, because what matters is how much
slower a wrong pick is, not how often it is wrong (two near-tied kernels can swap every run).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..selection import C_KERNELS_REVISION, FEATURES, DecisionTable, builtin_rule, family
from ..spec import ConvSpec
from .grid import PEER_ALGO

FORMAT = "convlab-decision-table/1"
MAX_DEPTH = 3
_LABEL = {"c_in": "C_in", "c_out": "C_out", "h": "H", "w": "W"}


def measured_shapes(rows: list[dict]) -> dict[tuple, dict[str, float]]:
    """(k, stride, padding, c_in, c_out, h, w, groups, backend, threads) -> {algo: median ms} for
    single convs our kernels ran (peers and dwsep pairs cannot be picked by auto)."""
    out: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r["status"] == "ok" and r["algo"] != PEER_ALGO and r["op"] in ("conv", "depthwise") and r["batch"] == 1:
            key = (r["k"], r["stride"], r["padding"], r["c_in"], r["c_out"], r["h"], r["w"], r["groups"], r["backend"],
                   r["threads"])
            out[key][r["algo"]] = r["median_ms"]
    return dict(out)


def build(rows: list[dict], device_id: str, sources: list[str]) -> dict:
    shapes = measured_shapes(rows)
    entries = []
    for key, times in sorted(shapes.items()):
        k, stride, padding, c_in, c_out, h, w, groups, backend, threads = key
        ranked = sorted(times, key=times.get)
        entries.append(dict(k=k, stride=stride, padding=padding, c_in=c_in, c_out=c_out, h=h, w=w, groups=groups,
                            backend=backend, threads=threads, winner=ranked[0],
                            margin=round(times[ranked[1]] / times[ranked[0]], 3) if len(ranked) > 1 else None,
                            times_ms={a: times[a] for a in ranked}))
    by_family: dict[tuple, list[dict]] = defaultdict(list)
    for e in entries:
        by_family[(family(e["k"], e["stride"], e["groups"], e["c_in"], e["c_out"]), e["backend"], e["threads"])].append(e)
    rules = []
    for (fam, backend, threads), es in sorted(by_family.items()):
        tree = fit_tree(es)
        # auto applies the rules only inside the ranges they were learned on (no extrapolation)
        ranges = {f: [min(e[f] for e in es), max(e[f] for e in es)] for f in FEATURES}
        rules.append(dict(family=fam, backend=backend, threads=threads, shapes=len(es), tree=tree, ranges=ranges,
                          text=[f"{fam} [{backend}, {threads} thread{'s' if threads > 1 else ''}]: {t}"
                                for t in rule_text(tree)]))
    return dict(format=FORMAT, device_id=device_id, sources=sources, c_kernels=C_KERNELS_REVISION,
                features=list(FEATURES), entries=entries,
                rules=rules)


def fit_tree(entries: list[dict]) -> dict:
    from sklearn.tree import DecisionTreeClassifier
    X = np.array([[e[f] for f in FEATURES] for e in entries], float)
    winners = [e["winner"] for e in entries]
    if len(set(winners)) == 1:
        return dict(algo=winners[0], shapes=len(entries))
    # A feature equal to an earlier one on every shape (C_out = C_in, H = W in the seed grids) is
    # dropped, so the rules name the first of them instead of whichever the tree happened to draw.
    cols = [j for j in range(X.shape[1]) if not any((X[:, j] == X[:, i]).all() for i in range(j))]
    clf = DecisionTreeClassifier(max_depth=MAX_DEPTH, min_samples_leaf=2, random_state=0).fit(X[:, cols], winners)
    leaf_of = clf.apply(X[:, cols])
    t = clf.tree_

    def node(i: int) -> tuple[dict, list[dict]]:
        """(subtree, its shapes). Two leaves merge when one label serves both as well as the split
        (tried on held-out shapes: merging splits worth up to 2% raised the regret, so only free ones)."""
        if t.children_left[i] == -1:
            members = [e for e, leaf in zip(entries, leaf_of) if leaf == i]
            return dict(algo=least_regret(members), shapes=len(members)), members
        (left, lm), (right, rm) = node(t.children_left[i]), node(t.children_right[i])
        members = lm + rm
        if "algo" in left and "algo" in right:
            one = least_regret(members)
            if total_log_regret(one, members) <= total_log_regret(left["algo"], lm) + total_log_regret(right["algo"], rm):
                return dict(algo=one, shapes=len(members)), members
        # sklearn splits midway between two measured values; the lower one reads like the seed's rules
        # ("C > 16", not "C > 24") and splits the measured shapes the same way
        j = cols[t.feature[i]]
        return dict(feature=FEATURES[j], threshold=int(X[X[:, j] <= t.threshold[i], j].max()), left=left,
                    right=right), members
    return node(0)[0]


def total_log_regret(algo: str, entries: list[dict]) -> float:
    """Summed log(time / fastest) over the shapes; an algo that did not run on a shape counts as
    10x slower there, so it is only chosen where it ran."""
    return sum(math.log(e["times_ms"][algo] / min(e["times_ms"].values())) if algo in e["times_ms"] else math.log(10)
               for e in entries)


def least_regret(entries: list[dict]) -> str:
    return min(sorted({a for e in entries for a in e["times_ms"]}), key=lambda a: total_log_regret(a, entries))


def rule_text(tree: dict) -> list[str]:
    out = []

    def walk(n, bounds):
        if "algo" in n:
            conds = []
            for f in FEATURES:
                lo, hi = bounds.get(f, (None, None))
                name = _LABEL[f]
                if lo is not None and hi is not None:
                    conds.append(f"{lo} < {name} <= {hi}")
                elif lo is not None:
                    conds.append(f"{name} > {lo}")
                elif hi is not None:
                    conds.append(f"{name} <= {hi}")
            out.append(f"{' and '.join(conds) or 'always'} → {n['algo']}")
            return
        f, th = n["feature"], n["threshold"]
        lo, hi = bounds.get(f, (None, None))
        walk(n["left"], {**bounds, f: (lo, th if hi is None else min(hi, th))})
        walk(n["right"], {**bounds, f: (th if lo is None else max(lo, th), hi)})
    walk(tree, {})
    return out


def evaluate(table: dict, rows: list[dict]) -> dict:
    """Regret of the table's rules (never its exact hits) and of the built-in rule on measured shapes."""
    dt = DecisionTable(table)
    per_shape = []
    for key, times in sorted(measured_shapes(rows).items()):
        k, stride, padding, c_in, c_out, h, w, groups, backend, threads = key
        spec = ConvSpec.build(c_in, c_out, k, k, stride=stride, padding=padding, groups=groups)
        best = min(times.values())
        picked = dt.choose(spec, h, w, backend, threads, exact=False)
        prefs = ([picked[0]] if picked else []) + builtin_rule(spec, h, w, backend)
        auto = next((a for a in prefs if a in times), None)
        builtin = next((a for a in builtin_rule(spec, h, w, backend) if a in times), None)
        per_shape.append(dict(shape=f"{family(k, stride, groups, c_in, c_out)} {c_in}->{c_out} {h}x{w}",
                              backend=backend, threads=threads, fastest=min(times, key=times.get), auto=auto,
                              auto_regret=times[auto] / best if auto else None,
                              builtin=builtin, builtin_regret=times[builtin] / best if builtin else None,
                              covered_by_rules=picked is not None, how=picked[1] if picked else "builtin"))
    backends = sorted({p["backend"] for p in per_shape})
    return dict(shapes=len(per_shape), per_shape=per_shape, auto=_summary([p["auto_regret"] for p in per_shape]),
                builtin=_summary([p["builtin_regret"] for p in per_shape]),
                by_backend={b: {who: _summary([p[f"{who}_regret"] for p in per_shape if p["backend"] == b])
                                for who in ("auto", "builtin")} for b in backends})


def _summary(regrets: list) -> dict:
    r = np.array([x for x in regrets if x is not None], float)
    if not len(r):
        return dict(geomean=None, worst=None, within_10pct=None)
    return dict(geomean=float(np.exp(np.log(r).mean())), worst=float(r.max()), within_10pct=float((r <= 1.10).mean()))
