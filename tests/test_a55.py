"""convlab.a55: the in-order Cortex-A55 dual-issue model on hand-written instruction sequences whose
cycle counts follow from its rules, the disassembly/loop plumbing, and `convlab a55 report`."""
from __future__ import annotations

import json

import pytest

from convlab import a55


def body(text: str) -> list[a55.Insn]:
    return [a55.parse_line(line) for line in text.strip().splitlines()]


def fmlas(n: int, first: int = 8) -> list[str]:
    return [f"fmla v{first + i}.4s, v0.4s, v1.s[{i % 4}]" for i in range(n)]


def test_one_fmla_per_cycle():
    assert a55.simulate(body("\n".join(fmlas(8)))) == 8


def test_64_bit_vector_and_integer_loads_pair_with_fmla():
    lines = []
    for i, f in enumerate(fmlas(8)):
        lines += [f, f"ldr d{2 + i % 4}, [x0, #{8 * i}]" if i % 2 else f"ldr x{9 + i % 4}, [x1, #{8 * i}]"]
    assert a55.simulate(body("\n".join(lines))) == 8


def test_128_bit_loads_do_not_pair_with_fmla():
    lines = []
    for i, f in enumerate(fmlas(8)):
        lines += [f, f"ldr q{2 + i % 4}, [x0, #{16 * i}]"]
    assert a55.simulate(body("\n".join(lines))) == 16
    # ldp d (128 bits) counts as a 128-bit load; ld1 {v.4s} too
    assert a55.simulate(body("fmla v8.4s, v0.4s, v1.s[0]\nldp d2, d3, [x0]")) == 2
    assert a55.simulate(body("fmla v8.4s, v0.4s, v1.s[0]\nld1 {v2.4s}, [x0]")) == 2


def test_insert_from_a_general_register_pairs_with_fmla():
    seq = "\n".join(["fmla v8.4s, v0.4s, v1.s[0]", "ldr x9, [x0]",
                     "fmla v9.4s, v0.4s, v1.s[1]", "ins v2.d[1], x10",
                     "fmla v10.4s, v0.4s, v1.s[2]", "ldr d3, [x0, #16]",
                     "fmla v11.4s, v0.4s, v1.s[3]", "add x0, x0, #32"])
    assert a55.simulate(body(seq)) == 4
    assert a55.classify(a55.parse_line("ins v2.d[1], x10"))[0] == "ins_gpr"
    assert a55.classify(a55.parse_line("mov v2.d[1], x10"))[0] == "ins_gpr"
    # an insert between vectors is a NEON op: it takes the FMLA's slot
    assert a55.simulate(body("fmla v8.4s, v0.4s, v1.s[0]\nins v2.s[1], v3.s[0]")) == 2


def test_neon_ops_do_not_dual_issue_with_each_other():
    assert a55.simulate(body("fadd v8.4s, v0.4s, v1.4s\nfmul v9.4s, v0.4s, v1.4s\n"
                             "dup v10.4s, v0.s[0]\nfmla v11.4s, v0.4s, v1.4s")) == 4


def test_latencies_and_accumulator_forwarding():
    # a chain through the accumulator: one FMLA every ACC_FORWARD_LATENCY cycles
    chain = "\n".join(["fmla v8.4s, v0.4s, v1.s[0]"] * 4)
    assert a55.simulate(body(chain)) == 4 * a55.ACC_FORWARD_LATENCY
    # through a multiplicand: the full FMLA latency
    assert a55.simulate(body("fmla v8.4s, v9.4s, v1.s[0]\nfmla v9.4s, v8.4s, v1.s[0]")) == 2 * a55.LATENCY["fma"]
    # an fadd chain: 4 per add; load -> fmla multiplicand -> move -> the next load's address
    assert a55.simulate(body("fadd v0.4s, v0.4s, v1.4s")) == a55.LATENCY["fp"]
    assert a55.simulate(body("ldr d0, [x0]\nfmla v9.4s, v0.4s, v1.s[0]\nfmov x0, d9")) == \
        a55.LATENCY["load"] + a55.LATENCY["fma"] + a55.LATENCY["vec"]


def test_integer_ops_dual_issue_and_pointer_chains():
    assert a55.simulate(body("add x1, x1, #1\nadd x2, x2, #1")) == 1
    assert a55.simulate(body("add x1, x1, #1\nadd x2, x2, #1\nadd x3, x3, #1\nadd x4, x4, #1")) == 2
    # a post-indexed load writes its base: one load per cycle, base ready the next cycle
    assert a55.simulate(body("ldr x9, [x0], #8")) == 1


def test_load_pipe_holds_wide_loads():
    assert a55.simulate(body("ldp q0, q1, [x0]")) == 2
    assert a55.simulate(body("ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [x0]")) == 4


def test_taken_loop_branch_ends_the_cycle():
    seq = "fmla v8.4s, v0.4s, v1.s[0]\nsubs w4, w4, #1\nb.ne 0 <loop>"
    assert a55.simulate(body(seq)) == 2


def test_classify_registers():
    kind, dests, srcs, flop = a55.classify(a55.parse_line("fmla v8.4s, v2.4s, v0.s[3]"))
    assert (kind, dests, sorted(srcs), flop) == ("fma", ["V8"], ["V0", "V2", "V8"], 8)
    kind, dests, srcs, _ = a55.classify(a55.parse_line("ldp q0, q1, [x2, #32]!"))
    assert kind == "load128" and dests == ["V0", "V1", "WB:X2"] and srcs == ["X2"]   # base writeback
    kind, dests, srcs, _ = a55.classify(a55.parse_line("str q8, [sp, #16]"))
    assert kind == "store" and dests == [] and set(srcs) == {"V8", "SP"}
    assert a55.classify(a55.parse_line("subs w4, w4, #1"))[1] == ["X4", "NZCV"]
    assert a55.classify(a55.parse_line("b.ne 200 <ukernel+0xd0>"))[2] == ["NZCV"]


OBJDUMP = """
0000000000000000 <k>:
   0:	mov	x2, #0x0
   4:	ldr	q0, [x0]
   8:	fmla	v8.4s, v0.4s, v1.s[0]
   c:	add	x0, x0, #0x10
  10:	subs	x3, x3, #0x1
  14:	b.ne	4 <k+0x4>  // b.any
  18:	fadd	v8.4s, v8.4s, v8.4s
  1c:	cbnz	x2, 0 <k>
  20:	ret
"""


def test_innermost_loop_and_mca_text(tmp_path):
    funcs = {}
    cur = None
    for line in OBJDUMP.splitlines():
        if line.endswith("<k>:"):
            cur = funcs.setdefault("k", [])
        elif ":" in line and cur is not None:
            addr, text = line.split(":", 1)
            cur.append(a55.parse_line(text.strip(), int(addr, 16)))
    loops = a55.innermost_loops(funcs["k"])
    assert len(loops) == 1 and [i.addr for i in loops[0]] == [4, 8, 0xc, 0x10, 0x14]
    text = a55.mca_text(loops[0])
    assert text.splitlines()[0] == "loop:" and text.splitlines()[-1].strip() == "b.ne loop"
    assert a55.flops(loops[0]) == 8


def test_report_command_runs(capsys):
    if a55.missing_tools():
        pytest.skip(f"needs {', '.join(a55.missing_tools())}: gcc-aarch64-linux-gnu (make setup)")
    from convlab.cli import main
    assert main(["a55", "report", "--json"]) == 0
    rows = {r["kernel"]: r for r in json.loads(capsys.readouterr().out)}
    gemm = rows["GEMM 8x12 (asm, A55 schedule)"]
    assert gemm["fmla"] == 24 and gemm["a55_cycles"] <= 30 and gemm["a55_peak"] >= 0.8
    assert any(k.startswith("Winograd F(6,3) input") for k in rows)
    assert any(k.startswith("depthwise KxK row") for k in rows)
    assert all(r["a55_cycles"] > 0 for r in rows.values())
