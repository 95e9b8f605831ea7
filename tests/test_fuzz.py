"""The fuzz target (tests/fuzz.py), a short seeded slice of it: mutated zoo models against
onnxruntime and bad conv arguments against the reference, each case in a worker subprocess with a
per-case timeout. Any crash, hang, raw (non-ConvlabError) exception, disagreement with onnxruntime or
model onnxruntime refuses but convlab runs fails the test, listing the cases. ~60 s here;
`make fuzz` runs thousands of cases, CONVLAB_FUZZ_MODEL_CASES / CONVLAB_FUZZ_CONV_CASES resize this one.
"""
import json
import os
import time

import fuzz

MODEL_CASES = int(os.environ.get("CONVLAB_FUZZ_MODEL_CASES", 300))
CONV_CASES = int(os.environ.get("CONVLAB_FUZZ_CONV_CASES", 500))


def test_fuzz_finds_no_crash_hang_raw_error_or_disagreement():
    t0 = time.monotonic()
    report = fuzz.run(MODEL_CASES, CONV_CASES, seed=0, timeout=60)
    elapsed = time.monotonic() - t0
    counts = report["counts"]
    print(f"fuzz: {sum(counts.values())} cases in {elapsed:.0f} s: {counts}")
    assert sum(counts.values()) == MODEL_CASES + CONV_CASES
    bad = fuzz.findings(report)
    assert not bad, "\n".join(f"{k}: {json.dumps(r, default=str)[:600]}" for k, r in sorted(bad.items()))
    # the slice must exercise both paths, not only refusals
    assert counts.get("agree", 0) >= (MODEL_CASES + CONV_CASES) // 10


def test_the_harness_reports_crashes_and_hangs(tmp_path, monkeypatch):
    """A case that kills its worker is a crash, one that stalls is a hang; the run goes on after both."""
    monkeypatch.setattr(fuzz, "__file__", str(tmp_path / "fake_fuzz.py"))
    (tmp_path / "fake_fuzz.py").write_text(
        "import json, os, sys, time\n"
        "for c in sys.argv[sys.argv.index('--cache') + 2:]:\n"
        "    print(json.dumps({'start': c}), flush=True)\n"
        "    if c == 'c1': os.kill(os.getpid(), 11)\n"
        "    if c == 'c2': time.sleep(60)\n"
        "    print(json.dumps({'case': c, 'verdict': 'agree'}), flush=True)\n")
    report = fuzz.run(0, 4, timeout=2, cache=tmp_path)
    verdicts = {k: r["verdict"] for k, r in report["results"].items()}
    assert verdicts == {"c0": "agree", "c1": "crash", "c2": "hang", "c3": "agree"}
    assert "-11" in report["results"]["c1"]["detail"]
