"""The regression detector on synthetic timings: a 25% slowdown is flagged, noise is not.

(The same proof on real timings is experiments/regress_validation.py; speed is never asserted here.)
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from convlab.cli import regress as regress_cli
from convlab.errors import ConvlabError
from convlab.sweep import regress

CASES = [f"k{i}@shape" for i in range(12)]
TRUE = {c: 0.2 + 0.3 * i for i, c in enumerate(CASES)}   # case/anchor ratio of each case


def report(seed: int, slow: dict | None = None, n: int = 15, outliers: float = 0.1) -> dict:
    """Ratios as a loaded host gives them: lognormal jitter (3%) plus a fraction of blocks hit by
    another job that slowed the case but not its anchor (up to 2x)."""
    rng = np.random.default_rng(seed)
    cases = {}
    for c in CASES:
        r = TRUE[c] * (slow or {}).get(c, 1.0) * rng.lognormal(0, 0.03, n)
        hit = rng.random(n) < outliers
        r[hit] *= rng.uniform(1.0, 2.0, hit.sum())
        cases[c] = dict(ratios=r.tolist(), median_ms=1.0, anchor_ms=1.0)
    return dict(format=regress.FORMAT, anchor="a1", threads=1, machine={"git": f"rev{seed}"}, injected=slow or {},
                cases=cases)


def flagged(verdicts):
    return [v.case for v in verdicts if v.status == "slower"]


def test_five_unchanged_reruns_raise_no_flag():
    base = report(0)
    for seed in range(1, 6):
        assert flagged(regress.compare(base, report(seed))) == []


def test_an_injected_25_percent_slowdown_is_flagged_and_nothing_else():
    base = report(0)
    for seed in range(1, 6):
        v = regress.compare(base, report(seed, slow={CASES[3]: 1.25}))
        assert flagged(v) == [CASES[3]]
        hit = next(x for x in v if x.case == CASES[3])
        assert 1.15 < hit.slowdown < 1.35 and hit.ci[0] > 1 and hit.p_value < regress.ALPHA


def test_small_changes_and_speedups():
    base = report(0)
    v = {x.case: x for x in regress.compare(base, report(1, slow={CASES[0]: 1.05, CASES[1]: 0.7}))}
    assert v[CASES[0]].status == "same", "5% is inside the 10% threshold"
    assert v[CASES[1]].status == "faster"


def test_new_removed_and_incomparable_reports():
    base, cur = report(0), report(1)
    cur["cases"]["new@x"] = cur["cases"].pop(CASES[0])
    v = {x.case: x.status for x in regress.compare(base, cur)}
    assert v[CASES[0]] == "removed" and v["new@x"] == "new"
    with pytest.raises(ConvlabError, match="anchor workload changed"):
        regress.compare(base, dict(cur, anchor="a2"))
    with pytest.raises(ConvlabError, match="not a convlab regress report"):
        regress.compare({"format": "x"}, cur)


def test_pytest_benchmark_json_is_normalised_by_the_anchor():
    def pb(scale, slow=1.0):
        rng = np.random.default_rng(int(scale * 10 + slow * 100))
        benches = [dict(name="test_anchor", stats=dict(data=(scale * rng.lognormal(0, 0.02, 30)).tolist()),
                        extra_info=dict(anchor_version="a1"))]
        benches += [dict(name=f"test_kernel[{c}]", stats=dict(data=(scale * TRUE[c] * (slow if c == CASES[2] else 1)
                                                                     * rng.lognormal(0, 0.02, 30)).tolist()),
                         extra_info=dict(case=c)) for c in CASES]
        return regress.from_pytest_benchmark(dict(benchmarks=benches, machine_info={}))
    # the whole machine 40% slower: no flag; one kernel 25% slower on that slower machine: flagged
    assert flagged(regress.compare(pb(1.0), pb(1.4))) == []
    assert flagged(regress.compare(pb(1.0), pb(1.4, slow=1.25))) == [CASES[2]]
    with pytest.raises(ConvlabError, match="--benchmark-save-data"):
        regress.from_pytest_benchmark(dict(benchmarks=[dict(name="test_anchor", stats={})]))


def test_fixed_set_covers_every_kernel():
    from convlab import registry
    names = {k.split("@")[0] for k in regress.cases()}
    assert names == {e.name for e in registry.entries(available_only=True) if e.algo != "reference"}


def test_run_fixed_set_report_shape_and_injection():
    case = "direct/numba@1x1_64x64_28"
    rep = regress.run_fixed_set(samples=3, only=[case], inject={case: 1.25})
    assert list(rep["cases"]) == [case] and rep["injected"] == {case: 1.25}
    c = rep["cases"][case]
    assert len(c["ratios"]) == 3 and all(r > 0 for r in c["ratios"]) and c["anchor_ms"] > 0
    assert rep["anchor"] == regress.ANCHOR_VERSION and rep["machine"]["cpu"]


def test_cli_compare_writes_markdown_and_ci_never_fails_on_a_flag(tmp_path, capsys):
    b, c = tmp_path / "b.json", tmp_path / "c.json"
    b.write_text(json.dumps(report(0)))
    c.write_text(json.dumps(report(1, slow={CASES[5]: 1.25})))
    p = argparse.ArgumentParser()
    regress_cli.register(p.add_subparsers())
    a = p.parse_args(["regress", str(b), str(c)])
    assert a.func(a) == 0, "without --strict a flag is reported, not fatal"
    out = capsys.readouterr().out
    assert "1 case(s) slower" in out and f"| {CASES[5]} | **SLOWER** |" in out
    a = p.parse_args(["regress", str(b), str(c), "--strict"])
    assert a.func(a) == 1


def test_confirmation_reruns_clear_a_one_run_drift_and_keep_a_real_slowdown(monkeypatch):
    base = report(0)
    # run 1: case 3 really slower, case 7 drifted up for this run only
    cur = report(1, slow={CASES[3]: 1.25, CASES[7]: 1.25})
    reruns = iter([report(2, slow={CASES[3]: 1.25}), report(3, slow={CASES[3]: 1.25})])
    asked = []

    def fake_run(only_cases=None, **kw):
        asked.append(sorted(only_cases))
        return next(reruns)
    monkeypatch.setattr(regress, "run_fixed_set", fake_run)
    v = {x.case: x for x in regress.confirm(base, regress.compare(base, cur), reruns=2)}
    assert asked == [sorted([CASES[3], CASES[7]])] * 2, "only flagged cases are re-timed"
    assert v[CASES[3]].status == "slower" and len(v[CASES[3]].reruns) == 2
    assert v[CASES[7]].status == "unconfirmed"
