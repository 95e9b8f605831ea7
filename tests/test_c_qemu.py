"""csrc/tests/test_kernels.c through csrc/Makefile: every SIMD kernel against a plain C reference
(odd sizes, padding, strides, every activation, 1 vs 3 threads), in three builds:
cross-compiled for the Cortex-A55 and run under qemu (the NEON kernels), and natively under
AddressSanitizer + UBSan (any report fails the run)."""
import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[1] / "csrc"


def _make(target: str) -> str:
    r = subprocess.run(["make", "-s", "-C", str(CSRC), target], capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"make {target} failed:\n{out[-4000:]}"
    assert " 0 failures" in r.stdout, r.stdout[-4000:]
    return r.stdout


@pytest.mark.skipif(not (shutil.which("aarch64-linux-gnu-gcc") and shutil.which("qemu-aarch64-static")),
                    reason="needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user-static (make setup)")
def test_neon_kernels_under_qemu():
    out = _make("qemu-test")
    assert "neon" in out.splitlines()[0], out


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_kernels_under_address_and_undefined_behaviour_sanitizers():
    out = _make("asan-test")
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out
