"""Compiled plans (.clp) and convlab-run: every zoo model compiled for the host runs in the
standalone runner bit-identically to Model.load, compiled for aarch64 runs under qemu and matches
onnxruntime (the NEON kernels and every engine op, whole models), and corrupt plans or bad
arguments are one-line errors with exit 2, never a crash."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from convlab.engine import Model
from convlab.engine.native import unavailable
from convlab.kernels.c._ffi import ffi, lib
from convlab.zoo import DEFAULT_MODELS, build_model

from engine_util import ort_run

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"C extension not built: {unavailable()}")
CSRC = Path(__file__).resolve().parent.parent / "csrc"
QEMU, SYSROOT = "qemu-aarch64-static", "/usr/aarch64-linux-gnu"


def _runner(target: str) -> Path:
    exe = CSRC / "build" / ("convlab-run" if target == "host" else "convlab-run-aarch64")
    # make decides whether the sources changed since the last build (make setup builds both).
    subprocess.run(["make", "-s", "-C", str(CSRC), "runner" if target == "host" else "runner-aarch64"], check=True,
                   capture_output=True)
    return exe


@pytest.fixture(scope="module")
def host_runner():
    return _runner("host")


@pytest.fixture(scope="module")
def zoo():
    return {name: build_model(name, calibration_images=4) for name in DEFAULT_MODELS}


def _run(cmd, timeout=600):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)


def _io(m, tmp_path, seed=0):
    feeds = m.random_inputs(seed=seed)
    x = tmp_path / "x.bin"
    np.concatenate([feeds[k].reshape(-1) for k in m.inputs]).astype("<f4").tofile(x)
    return feeds, x


def _outputs(m, path):
    flat, out, at = np.fromfile(path, "<f4"), {}, 0
    for o in m.outputs:
        shape = m.graph.shapes[o][0]
        n = int(np.prod(shape))
        out[o], at = flat[at:at + n].reshape(shape), at + n
    assert at == flat.size
    return out


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_host_plan_in_convlab_run_is_bit_identical_to_model_load(zoo, name, host_runner, tmp_path):
    m = Model.load(zoo[name].model)
    plan = tmp_path / f"{name}.clp"
    plan.write_bytes(m.executor.plan_bytes("host"))
    feeds, x = _io(m, tmp_path)
    r = _run([host_runner, plan, "--input", x, "--output", tmp_path / "y.bin", "--repeat", 2, "--warmup", 0,
              "--layers", "--json"])
    assert r.returncode == 0, r.stderr
    expected = m.run(feeds)
    for o, got in _outputs(m, tmp_path / "y.bin").items():
        np.testing.assert_array_equal(got, expected[o])
    assert '"median_ms"' in r.stdout and '"layers"' in r.stdout


@pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} not installed (make setup installs qemu-user-static)")
@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_aarch64_plan_under_qemu_matches_onnxruntime(zoo, name, tmp_path):
    """The whole model on NEON: every C op and the A55 kernels, under qemu-aarch64."""
    exe = _runner("aarch64")
    m = Model.load(zoo[name].model)
    plan = tmp_path / f"{name}.clp"
    plan.write_bytes(m.executor.plan_bytes("aarch64"))
    feeds, x = _io(m, tmp_path, seed=1)
    r = _run([QEMU, "-L", SYSROOT, exe, plan, "--input", x, "--output", tmp_path / "y.bin", "--repeat", 1,
              "--warmup", 0])
    assert r.returncode == 0, r.stderr
    expected = dict(zip(m.outputs, ort_run(zoo[name].model, feeds)))
    for o, got in _outputs(m, tmp_path / "y.bin").items():
        assert np.abs(got - expected[o]).max() <= 1e-4 * np.abs(expected[o]).max(), o


@pytest.fixture(scope="module")
def small_plan(zoo):
    return Model.load(zoo["detector"].model).executor.plan_bytes("host")


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convlab-run: error:"), r.stderr
    return lines[0]


def _with_checksum(data: bytearray) -> bytes:
    head = ffi.sizeof("cl_plan_header")
    h = ffi.from_buffer("cl_plan_header *", data)
    h.checksum = lib.cl_plan_checksum(bytes(data[head:]), len(data) - head)
    return bytes(data)


@pytest.mark.parametrize("what,mutate,message", [
    ("empty", lambda b: b"", "shorter than its header"),
    ("truncated", lambda b: b[: len(b) // 2], "truncated"),
    ("one byte short", lambda b: b[:-1], "truncated"),
    ("magic", lambda b: b"XX" + b[2:], "bad magic"),
    ("flipped weight byte", lambda b: b[:-100] + bytes([b[-100] ^ 0x40]) + b[-99:], "checksum"),
])
def test_corrupt_plans_are_one_line_errors(small_plan, host_runner, tmp_path, what, mutate, message):
    plan = tmp_path / "bad.clp"
    plan.write_bytes(mutate(small_plan))
    assert message in _one_line_error(_run([host_runner, plan, "--repeat", 1, "--warmup", 0]))


@pytest.mark.parametrize("field,value,message", [
    ("version", 99, "version 99"),
    ("target", 2, "compiled for aarch64"),
    ("step_bytes", 8, "layout"),
])
def test_wrong_version_or_target_is_refused(small_plan, host_runner, tmp_path, field, value, message):
    data = bytearray(small_plan)
    setattr(ffi.from_buffer("cl_plan_header *", data), field, value)
    plan = tmp_path / "bad.clp"
    plan.write_bytes(bytes(data))
    assert message in _one_line_error(_run([host_runner, plan]))


def test_fuzzed_plans_never_crash(small_plan, host_runner, tmp_path):
    """Seeded mutations: random bytes anywhere (caught by size or checksum), and, with the checksum
    recomputed, the header, the tensor table and every step's offsets (caught by the checks of
    plan_file.c and cl_engine_create). Each run ends in exit 0 (a harmless change) or one error line."""
    rng = np.random.default_rng(0)
    ffi_step = ffi.sizeof("cl_step")
    head = ffi.sizeof("cl_plan_header")
    h = ffi.from_buffer("cl_plan_header *", bytearray(small_plan))
    tensors = (h.ninputs + h.noutputs) * ffi.sizeof("cl_plan_tensor")
    steps_at = head + tensors + 64 * h.nsteps
    # Offsets within a step of in[3], out, cst[4] (int64 each) follow the four int fields.
    step_offsets = [16 + 8 * k for k in range(8)]
    cases = []
    for _ in range(25):
        data = bytearray(small_plan)
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, len(data)))] ^= int(rng.integers(1, 256))
        cases.append(bytes(data))
    for _ in range(50):
        data = bytearray(small_plan)
        kind = rng.integers(0, 3)
        if kind == 0:       # a header size or count
            at = int(rng.integers(8, head))
            data[at] ^= int(rng.integers(1, 256))
        elif kind == 1:     # the tensor table: offsets, ranks, dims
            at = head + int(rng.integers(64, tensors)) if tensors > 64 else head
            data[at] ^= int(rng.integers(1, 256))
        else:               # one step's arena or constant offset set to something wild
            k = int(rng.integers(0, h.nsteps))
            at = steps_at + k * ffi_step + step_offsets[int(rng.integers(0, 8))]
            data[at:at + 8] = int(rng.choice([-2, 1 << 40, 3, -1 << 40, 10**7])).to_bytes(8, "little", signed=True)
        cases.append(_with_checksum(data))
    for k, case in enumerate(cases):
        plan = tmp_path / f"f{k}.clp"
        plan.write_bytes(case)
        r = _run([host_runner, plan, "--repeat", 1, "--warmup", 0], timeout=60)
        assert r.returncode in (0, 2), (k, r.returncode, r.stderr[-300:])
        if r.returncode == 2:
            _one_line_error(r)


@pytest.mark.parametrize("args,message", [
    ([], "no plan file"),
    (["missing.clp"], "No such file"),
    (["{plan}", "--repeat", "-5"], "--repeat needs an integer"),
    (["{plan}", "--threads", "0"], "--threads needs an integer"),
    (["{plan}", "--bogus"], "unknown option"),
    (["{plan}", "--input", "{short}"], "the plan's inputs need"),
])
def test_bad_arguments_are_one_line_errors(small_plan, host_runner, tmp_path, args, message):
    plan, short = tmp_path / "p.clp", tmp_path / "short.bin"
    plan.write_bytes(small_plan)
    short.write_bytes(b"\0" * 12)
    cmd = [host_runner] + [a.format(plan=plan, short=short) for a in args]
    assert message in _one_line_error(_run(cmd))


def test_compile_command_writes_a_plan_and_refuses_to_overwrite(tmp_path, capsys):
    from convlab.cli import main
    from engine_util import make_model
    from onnx import helper
    model = make_model([helper.make_node("Relu", ["X"], ["Y"])], {"X": (1, 4)}, ["Y"])
    src = tmp_path / "m.onnx"
    src.write_bytes(model.SerializeToString())
    out = tmp_path / "m.clp"
    assert main(["compile", str(src), "-o", str(out), "--target", "aarch64"]) == 0
    assert out.read_bytes()[:6] == b"CLPLAN"
    assert main(["compile", str(src), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["compile", str(src), "-o", str(src), "--force"]) == 2
