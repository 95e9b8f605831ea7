"""pytest-benchmark suite over the fixed regression set (convlab.sweep.regress.SHAPES x every kernel).

Run: `.venv/bin/pytest benchmarks/ --benchmark-json=out.json`, then
`convlab regress baseline.json out.json`: each kernel's samples are divided by the anchor's median
of the same run, so a slower or busier machine does not look like a slower kernel.
"""
from __future__ import annotations

import pytest

from convlab.sweep import regress

CASES = regress.cases()


def test_anchor(benchmark):
    benchmark.extra_info["anchor_version"] = regress.ANCHOR_VERSION
    benchmark(regress.make_anchor())


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel(benchmark, case):
    entry, spec, hw = CASES[case]
    benchmark.extra_info["case"] = case
    benchmark(regress.case_runner(entry, spec, hw, threads=1))
