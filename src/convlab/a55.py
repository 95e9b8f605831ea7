"""The Cortex-A55 view of the NEON micro-kernels, without a board.

Each kernel is cross-compiled (``aarch64-linux-gnu-gcc -O3 -mcpu=cortex-a55``), disassembled
(``objdump -d``), and its inner loop (the innermost backward-branch loop with the most FP work; for
straight-line kernels such as the Winograd tile transforms, every instruction of the function once)
is timed two ways:

* ``llvm-mca-19 -mcpu=cortex-a55``. Its A55 model (llvm/lib/Target/AArch64/AArch64SchedA55.td) gives
  FP multiply-accumulate two pipes (``CortexA55UnitFPMAC : ProcResource<2>``), i.e. two 128-bit
  FMLA per cycle, and has no load/FMLA pairing limits, so it is optimistic for FMLA-bound loops and
  blind to what the A55's load scheduling really costs.
* :func:`simulate`, the small in-order dual-issue model below. Its rules, and where they come from:

  ``[SWOG]`` Arm Cortex-A55 Software Optimization Guide; ``[ncnn]`` Tencent/ncnn
  docs/developer-guide/arm-a53-a55-dual-issue.md (section "A55"); ``[llvm]`` AArch64SchedA55.td.

  1. In order, at most two instructions issue per cycle; an instruction never issues before an
     older one [SWOG: dual-issue, in-order].
  2. At most one FP/NEON data-processing instruction per cycle, 64- or 128-bit: a 128-bit FMLA
     uses both 64-bit FP/NEON datapaths [SWOG], and "limited by the number of neon register read
     and write ports, most neon instructions cannot be dual-issued" [ncnn]. So the fp32 peak is one
     ``fmla .4s`` = 8 FLOP per cycle.
  3. An insert of a general register into a vector element (``ins vN.d[1], xM``) is not counted by
     rule 2: it dual-issues with an FMLA [ncnn: "64bit vector insert can be dual issued with fmla"].
  4. One load per cycle (one load pipe) and one store per cycle (one store pipe) [SWOG, llvm
     ``CortexA55UnitLd``/``CortexA55UnitSt``]; a load of more than 128 bits (``ld1`` of several q
     registers, ``ld2`` ...) holds the load pipe one cycle per 128 bits [llvm ReleaseAtCycles].
  5. A load of 128 bits or more into vector registers (``ldr q``, ``ldp q``, ``ldp d``, ``ld1
     {v.4s}``) does not issue in the same cycle as a rule-2 instruction; 64-bit vector loads
     (``ldr d``, ``ldr s``, lane loads) and integer loads (``ldr x``) do [ncnn: "128bit vector load
     cannot be issued with fmla", "64bit integer load can be dual issued with fmla"; the A55
     example pairs ``ldr d`` with fmla too].
  6. Integer ALU: two per cycle; multiply: one; branch: one; pointer updates pair with an FMLA
     [SWOG, ncnn].
  7. Latencies (result to dependent issue): FMLA / FP add / FP mul 4 [SWOG, llvm ``WriteFMAC``,
     ``WriteF``]; other NEON (dup, mov, logic, bsl, compare, min/max) 2; insert from a general
     register 2; loads 3, 128-bit vector loads 4 [llvm: "most loads have a latency of 3", VLD1 4];
     integer ALU 1, multiply 3.
  8. Accumulator forwarding: an FMLA whose accumulator was written by an FMLA/FMUL reads it late,
     2 cycles after issue [SWOG's late-forwarding of accumulate operands; the 2 is our assumption],
     so a chain of FMLAs on one accumulator issues every 2 cycles, not every 4.
  9. Branches are predicted perfectly; the instruction after a taken loop branch issues no earlier
     than the next cycle.

  Not modelled: WAR hazards ([ncnn] mentions a 2-cycle wait for a 128-bit load after an fmla that
  reads its register), cache misses, the fetch/decode front end, store-to-load forwarding, the
  exact latency of each NEON op. Loops are simulated for 40 iterations and the steady-state cycles
  per iteration reported.

Fraction of peak = FLOP per iteration (``fmla/fmls``: 2 per lane, ``fadd/fsub/fmul``: 1 per lane)
/ (cycles x 8).  ``convlab a55 report`` prints the table (``results/a55/report.md``).
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CROSS_CC = "aarch64-linux-gnu-gcc"
OBJDUMP = "aarch64-linux-gnu-objdump"
LLVM_MCA = "llvm-mca-19"
CFLAGS = ["-std=c11", "-O3", "-mcpu=cortex-a55"]
PEAK_FLOP_PER_CYCLE = 8
ACC_FORWARD_LATENCY = 2
LATENCY = {"fma": 4, "fp": 4, "vec": 2, "ins_gpr": 2, "load": 3, "load128": 4, "alu": 1, "mul": 3,
           "store": 0, "branch": 0, "nop": 0}

_BRANCHES = {"b", "bl", "br", "blr", "ret", "cbz", "cbnz", "tbz", "tbnz"}
_FLAG_SETTERS = {"subs", "adds", "ands", "bics", "cmp", "cmn", "tst", "ccmp", "ccmn", "fcmp", "fcmpe", "negs"}
_FLAG_READERS = {"csel", "csinc", "csinv", "csneg", "cset", "csetm", "cinc", "cinv", "cneg", "ccmp", "ccmn",
                 "adc", "adcs", "sbc", "sbcs", "fcsel"}
_READS_DEST = {"fmla", "fmls", "mla", "mls", "bsl", "bit", "bif", "ins", "sli", "sri", "fmlal", "fmlsl",
               "movk", "sdot", "udot"}
_FP_FLOP = {"fadd": 1, "fsub": 1, "fmul": 1, "fmla": 2, "fmls": 2, "fmadd": 2, "fmsub": 2, "fnmadd": 2,
            "fnmsub": 2, "fmulx": 1, "fabd": 1, "faddp": 1}
_MUL = {"mul", "madd", "msub", "umaddl", "smaddl", "smull", "umull", "umulh", "smulh", "mneg"}
_VREG = re.compile(r"\b([vqdshb])(\d{1,2})\b")
_XREG = re.compile(r"\b([xw])(\d{1,2}|zr)\b|\b(w?sp)\b")


@dataclasses.dataclass
class Insn:
    text: str                 # "fmla v8.4s, v2.4s, v0.s[0]"
    mnem: str
    ops: list[str]
    addr: int = 0
    target: int | None = None  # branch target address

    @property
    def kind(self) -> str:
        return classify(self)[0]


def _split_ops(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_line(line: str, addr: int = 0) -> Insn:
    """One assembly instruction ("fmla v8.4s, v2.4s, v0.s[0]"; objdump comments and branch
    target annotations are dropped)."""
    line = line.split("//")[0].split(";")[0].strip()
    parts = line.split(None, 1)
    mnem = parts[0].lower()
    rest = parts[1] if len(parts) > 1 else ""
    target = None
    m = re.search(r"\b([0-9a-f]+) <[^>]*>", rest)
    if m:
        target = int(m.group(1), 16)
        rest = rest[:m.start()] + "L" + rest[m.end():]
    return Insn(f"{mnem} {rest}".strip(), mnem, _split_ops(rest), addr, target)


def _regs(op: str) -> list[str]:
    regs = []
    for m in _VREG.finditer(op):
        regs.append(f"V{int(m.group(2))}")
    for m in _XREG.finditer(op):
        if m.group(3):
            regs.append("SP")
        elif m.group(2) != "zr":
            regs.append(f"X{int(m.group(2))}")
    return regs


def _load_bits(insn: Insn) -> tuple[int, bool]:
    """Bits loaded and whether into vector registers."""
    dests = insn.ops[:2] if insn.mnem in ("ldp", "ldnp", "ldpsw") else insn.ops[:1]
    bits, vec = 0, False
    for op in dests:
        if op.startswith("{"):
            vec = True
            inside, lane = op[1:op.index("}")], op[op.index("}") + 1:]
            n = len(_split_ops(inside))
            m = re.search(r"\.(\d*)([bhsd])", inside)
            if lane.startswith("[") or insn.mnem.endswith("r"):
                bits += n * {"b": 8, "h": 16, "s": 32, "d": 64}[m.group(2)] if m else 32 * n
            else:
                count = int(m.group(1)) if m and m.group(1) else 1
                bits += n * count * {"b": 8, "h": 16, "s": 32, "d": 64}[m.group(2)] if m else 128 * n
            continue
        c = op[0]
        if c in "qdshb":
            vec = True
            bits += {"q": 128, "d": 64, "s": 32, "h": 16, "b": 8}[c]
        elif c == "x":
            bits += 64
        else:
            bits += 32
    if insn.mnem.startswith(("ldrb", "ldrsb", "ldurb")):
        bits = 8
    elif insn.mnem.startswith(("ldrh", "ldrsh", "ldurh")):
        bits = 16
    return bits, vec


def classify(insn: Insn) -> tuple[str, list[str], list[str], int]:
    """(kind, destination registers, source registers, flop) of an instruction. Kinds: fma, fp,
    vec, ins_gpr, load, load128, store, alu, mul, branch, nop."""
    mn, ops = insn.mnem, insn.ops
    base = mn.split(".")[0]
    if mn == "nop" or not ops and base not in _BRANCHES:
        return "nop", [], [], 0
    if base in _BRANCHES or mn.startswith("b."):
        srcs = ["NZCV"] if mn.startswith("b.") else [r for op in ops for r in _regs(op)]
        return "branch", [], srcs, 0
    if mn.startswith("ld") or mn.startswith("prfm"):
        if mn.startswith("prfm"):
            return "load", [], [r for op in ops[1:] for r in _regs(op)], 0
        nd = 2 if mn in ("ldp", "ldnp", "ldpsw") else 1
        dests = [r for op in ops[:nd] for r in _regs(op)]
        addr_ops = ops[nd:]
        srcs = [r for op in addr_ops for r in _regs(op)]
        if ops and ops[0].startswith("{") and "}[" in ops[0]:
            srcs += dests  # lane load: the rest of the register is kept
        if addr_ops and (addr_ops[0].endswith("!") or len(addr_ops) > 1):
            dests += ["WB:" + r for r in _regs(addr_ops[0])[:1]]   # writeback of the base
        bits, vec = _load_bits(insn)
        return ("load128" if vec and bits >= 128 else "load"), dests, srcs, 0
    if mn.startswith("st"):
        nd = 2 if mn in ("stp", "stnp") else 1
        srcs = [r for op in ops for r in _regs(op)]
        addr_ops = ops[nd:]
        wb = addr_ops and (addr_ops[0].endswith("!") or len(addr_ops) > 1)
        dests = ["WB:" + r for r in _regs(addr_ops[0])[:1]] if wb else []
        return "store", dests, srcs, 0
    dest_regs = _regs(ops[0]) if ops else []
    srcs = [r for op in ops[1:] for r in _regs(op)]
    if base in _FLAG_READERS:
        srcs.append("NZCV")
    dests = list(dest_regs)
    if base in _FLAG_SETTERS:
        if base in ("cmp", "cmn", "tst", "fcmp", "fcmpe", "ccmp", "ccmn"):
            srcs = [r for op in ops for r in _regs(op)] + (["NZCV"] if base in ("ccmp", "ccmn") else [])
            dests = []
        dests.append("NZCV")
    partial = bool(re.match(r"v\d+\.[bhsd]\[", ops[0])) if ops else False   # element write
    if base in _READS_DEST or partial:
        srcs += dest_regs
    vec = any(_VREG.search(op) for op in ops)
    if (base in ("ins", "mov", "fmov") and partial and ops[1][0] in "xw"):
        return "ins_gpr", dests, srcs, 0
    if vec:
        lanes = 1
        m = re.search(r"\.(\d+)([bhsd])", ops[0])
        if m:
            lanes = int(m.group(1))
        flop = _FP_FLOP.get(base, 0) * lanes
        if base in ("fmla", "fmls"):
            return "fma", dests, srcs, flop
        if base.startswith("f") and base not in ("fmov",) and not base.startswith("fcm") and base not in ("fmax", "fmin", "fmaxnm", "fminnm", "fabs", "fneg"):
            return "fp", dests, srcs, flop
        return "vec", dests, srcs, flop
    if base in _MUL:
        return "mul", dests, srcs, 0
    return "alu", dests, srcs, 0


def simulate(body: list[Insn], iterations: int = 40, detail: bool = False):
    """Steady-state cycles per iteration of `body` repeated (rules in the module docstring).
    With detail, also the issue cycle of each instruction of one steady-state iteration."""
    info = [classify(i) for i in body]
    ready: dict[str, int] = {}
    writer: dict[str, str] = {}
    use: dict[int, dict[str, int]] = {}
    last = 0
    starts, issue_cycles = [], []
    for it in range(iterations):
        for idx, (insn, (kind, dests, srcs, _)) in enumerate(zip(body, info)):
            t = last
            for r in srcs:
                rt = ready.get(r, 0)
                if kind == "fma" and r in dests and writer.get(r) in ("fma", "fp"):
                    rt -= LATENCY["fma"] - ACC_FORWARD_LATENCY
                t = max(t, rt)
            c = t
            while not _fits(use.setdefault(c, {}), kind, insn):
                c += 1
                use.setdefault(c, {})
            _take(use[c], kind, insn)
            last = c
            if idx == 0:
                starts.append(c)
            if it == iterations // 2:
                issue_cycles.append(c)
            lat = LATENCY[kind]
            for r in dests:
                if r.startswith("WB:"):   # base register writeback: the address adder, 1 cycle
                    ready[r[3:]], writer[r[3:]] = c + 1, "alu"
                    continue
                ready[r] = c + lat
                writer[r] = kind
            if kind in ("load", "load128"):
                for extra in range(1, _load_cycles(insn)):   # wide loads hold the load pipe
                    use.setdefault(c + extra, {})["ld"] = 1
            if kind == "branch" and idx == len(body) - 1:
                last = c + 1
    a, b = iterations // 2, iterations - 1
    cyc = (starts[b] - starts[a]) / (b - a)
    if detail:
        return cyc, [c - issue_cycles[0] for c in issue_cycles]
    return cyc


def _load_cycles(insn: Insn) -> int:
    bits, vec = _load_bits(insn)
    return max(1, (bits + 127) // 128) if vec and bits > 128 else 1


def _fits(u: dict, kind: str, insn: Insn) -> bool:
    if u.get("slots", 0) >= 2:
        return False
    neon = kind in ("fma", "fp", "vec")
    if neon and (u.get("neon", 0) >= 1 or u.get("load128", 0)):
        return False
    if kind == "load128" and u.get("neon", 0):
        return False
    if kind in ("load", "load128") and u.get("ld", 0):
        return False
    if kind == "store" and u.get("st", 0):
        return False
    if kind == "alu" and u.get("alu", 0) >= 2:
        return False
    if kind in ("mul", "branch", "ins_gpr") and u.get(kind, 0):
        return False
    return True


def _take(u: dict, kind: str, insn: Insn) -> None:
    u["slots"] = u.get("slots", 0) + 1
    if kind in ("fma", "fp", "vec"):
        u["neon"] = 1
    if kind in ("load", "load128"):
        u["ld"] = 1
        if kind == "load128":
            u["load128"] = 1
    for k in ("store", "alu", "mul", "branch", "ins_gpr"):
        if kind == k:
            key = "st" if k == "store" else k
            u[key] = u.get(key, 0) + 1


def flops(body: list[Insn]) -> int:
    return sum(classify(i)[3] for i in body)


# ---- disassembly, loops, llvm-mca ----

def disassemble(obj: Path) -> dict[str, list[Insn]]:
    out = subprocess.run([OBJDUMP, "-d", "--no-show-raw-insn", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    funcs: dict[str, list[Insn]] = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S.*)$", line)
        if m and cur is not None:
            cur.append(parse_line(m.group(2), int(m.group(1), 16)))
    return funcs


def innermost_loops(fn: list[Insn]) -> list[list[Insn]]:
    """Bodies [target .. backward branch] that contain no other backward branch's body."""
    spans = []
    for i, insn in enumerate(fn):
        if insn.target is not None and insn.target <= insn.addr and classify(insn)[0] == "branch":
            j = next((k for k, x in enumerate(fn) if x.addr == insn.target), None)
            if j is not None:
                spans.append((j, i))
    inner = [s for s in spans if not any(o != s and s[0] <= o[0] and o[1] <= s[1] for o in spans)]
    return [fn[a:b + 1] for a, b in inner]


def mca_text(body: list[Insn]) -> str:
    lines = ["loop:"]
    for i in body:
        text = i.text.replace(" L", " loop") if i.target is not None else i.text
        lines.append("  " + text)
    return "\n".join(lines) + "\n"


def llvm_mca(body: list[Insn], iterations: int = 200) -> float | None:
    """Cycles per iteration under llvm-mca's cortex-a55 model (None if llvm-mca-19 is missing)."""
    if not shutil.which(LLVM_MCA):
        return None
    r = subprocess.run([LLVM_MCA, "-mtriple=aarch64-linux-gnu", "-mcpu=cortex-a55", f"-iterations={iterations}",
                        "-summary-view", "-resource-pressure=false", "-instruction-info=false"],
                       input=mca_text(body), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"llvm-mca failed: {r.stderr[-2000:]}")
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", r.stdout).group(1))
    return cycles / iterations


# ---- the kernels ----

@dataclasses.dataclass
class Kernel:
    name: str          # how the report names it
    source: str        # file in csrc/
    symbol: str        # function in the object file
    loops: int = 1     # how many of its hottest inner loops to report (0: the whole function once)
    what: str = "inner-loop iteration"
    rev: str | None = None   # compile the file as it was at this git revision (a "before" row)


# The GEMM micro-kernel before the A55 rewrite (main at 0cb263d, intrinsics, gemm_ukernel_neon.c).
BEFORE_REV = "0cb263d"

KERNELS = [
    Kernel("GEMM 8x12 before (intrinsics, 0cb263d)", "gemm_ukernel_neon.c", "ukernel", what="k step (24 FMLA)",
           rev=BEFORE_REV),
    Kernel("GEMM 8x12 (asm, A55 schedule)", "gemm_8x12_neon_a55.c", "ukernel", what="k step (24 FMLA)"),
    Kernel("GEMM 8x12 (intrinsics, reference)", "gemm_8x12_neon_a55.c", "ukernel_c", what="k step (24 FMLA)"),
    Kernel("GEMV (MR=8)", "gemm_8x12_neon_a55.c", "gemv_ukernel", what="8 FMLA (8 rows x 4 k)"),
    Kernel("depthwise 3x3 channel (s1 strips)", "dwconv3x3_neon.c", "dw_s1", loops=2,
           what="{vectors} output vectors x 9 taps"),
    Kernel("depthwise 3x3 channel (s2 rows)", "dwconv3x3_neon.c", "dw_s2", loops=2,
           what="{vectors} output vectors x 9 taps"),
    Kernel("depthwise KxK row", "dwconv_kxk_neon.c", "dw_kxk_row", loops=1, what="tap x 4 vectors"),
    Kernel("Winograd F(2,3) input transform", "winograd_neon.c", "input_f23", loops=0, what="call (4 tiles)"),
    Kernel("Winograd F(4,3) input transform", "winograd_neon.c", "input_f43", loops=0, what="call (4 tiles)"),
    Kernel("Winograd F(6,3) input transform", "winograd_neon.c", "input_f63", loops=0, what="call (4 tiles)"),
    Kernel("Winograd F(2,3) output transform", "winograd_neon.c", "output_f23", loops=0, what="call (4 tiles)"),
    Kernel("Winograd F(4,3) output transform", "winograd_neon.c", "output_f43", loops=0, what="call (4 tiles)"),
    Kernel("Winograd F(6,3) output transform", "winograd_neon.c", "output_f63", loops=0, what="call (4 tiles)"),
]


def csrc_dir() -> Path:
    env = os.environ.get("CONVLAB_CSRC")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for p in here.parents:
        if (p / "csrc" / "include").is_dir():
            return p / "csrc"
    raise FileNotFoundError("csrc/ not found (set CONVLAB_CSRC)")


def missing_tools() -> list[str]:
    return [t for t in (CROSS_CC, OBJDUMP) if not shutil.which(t)]


def compile_object(source: Path, out: Path, csrc: Path | None = None) -> None:
    csrc = csrc or source.parent
    r = subprocess.run([CROSS_CC, *CFLAGS, f"-I{csrc / 'include'}", f"-I{csrc}", "-c", str(source), "-o", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{CROSS_CC} {source.name} failed:\n{r.stderr[-3000:]}")


def _source_at(csrc: Path, name: str, rev: str, tmp: Path) -> Path | None:
    """csrc/<name> as of git revision rev, written to tmp; None if there is no git history here."""
    if not shutil.which("git"):
        return None
    r = subprocess.run(["git", "-C", str(csrc), "show", f"{rev}:csrc/{name}"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    out = tmp / f"{rev}_{name}"
    out.write_text(r.stdout)
    return out


def _disjoint(loops: list[list[Insn]]) -> list[list[Insn]]:
    """Drop loops overlapping one kept before them (a rotated loop shows up as two backward branches)."""
    kept = []
    for b in loops:
        if not any(b[0].addr <= k[-1].addr and k[0].addr <= b[-1].addr for k in kept):
            kept.append(b)
    return kept


def analyse(kernels=KERNELS, csrc: Path | None = None) -> list[dict]:
    csrc = csrc or csrc_dir()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        objs: dict[tuple, dict] = {}
        for k in kernels:
            key = (k.source, k.rev)
            if key not in objs:
                src = csrc / k.source if k.rev is None else _source_at(csrc, k.source, k.rev, Path(tmp))
                if src is None:
                    continue   # a "before" row without the git history (an installed package)
                obj = Path(tmp) / f"{len(objs)}.o"
                compile_object(src, obj, csrc)
                objs[key] = disassemble(obj)
            funcs = objs[key]
            fn = funcs.get(k.symbol) or next((v for n, v in funcs.items() if n.startswith(k.symbol + ".")), None)
            if fn is None:
                raise RuntimeError(f"{k.symbol} not found in {k.source} (inlined?)")
            if k.loops:
                # loops with a call are outer loops around a kernel, not a kernel: calls are not modelled
                cands = [b for b in innermost_loops(fn) if not any(i.mnem in ("bl", "blr") for i in b)]
                loops = _disjoint(sorted(cands, key=lambda b: (-flops(b), b[0].addr)))[:k.loops]
                loops = [b for b in loops if flops(b)]
            else:
                loops = [[i for i in fn if classify(i)[0] != "branch"]]   # straight through, once
            for n, body in enumerate(loops):
                fl = flops(body)
                ours = simulate(body)
                mca = llvm_mca(body)
                fmla = sum(1 for i in body if classify(i)[0] == "fma")
                # a depthwise row's taps: a multiply then two FMLAs (dwconv3x3_impl.h, dw_row_taps)
                taps = fmla + sum(1 for i in body if i.mnem == "fmul" and _VREG.search(i.text))
                rows.append({
                    "kernel": k.name + (f" #{n + 1}" if len(loops) > 1 else ""),
                    "source": f"csrc/{k.source}" + (f" @ {k.rev}" if k.rev else ""),
                    "symbol": k.symbol, "unit": k.what.format(fmla=fmla, vectors=taps // 9), "instructions": len(body), "fmla": fmla, "flop": fl,
                    "addr": f"{body[0].addr:#x}-{body[-1].addr:#x}",
                    "llvm_mca_cycles": mca, "a55_cycles": ours,
                    "llvm_mca_peak": fl / (mca * PEAK_FLOP_PER_CYCLE) if mca else None,
                    "a55_peak": fl / (ours * PEAK_FLOP_PER_CYCLE) if ours else None,
                })
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| kernel | unit | insns | FMLA | FLOP | llvm-mca-19 cycles | % peak | A55 model cycles | % peak |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    out = []
    for r in rows:
        mca = f"{r['llvm_mca_cycles']:.1f}" if r["llvm_mca_cycles"] is not None else "n/a"
        mp = f"{100 * r['llvm_mca_peak']:.0f}%" if r["llvm_mca_peak"] is not None else "n/a"
        out.append(f"| {r['kernel']} (`{r['symbol']}` {r['addr']}) | {r['unit']} | {r['instructions']} | {r['fmla']} "
                   f"| {r['flop']} | {mca} | {mp} | {r['a55_cycles']:.1f} | {100 * r['a55_peak']:.0f}% |")
    return head + "\n".join(out) + "\n"


METHOD = """\
Each NEON micro-kernel is cross-compiled as the library builds it for the board
(`aarch64-linux-gnu-gcc -std=c11 -O3 -mcpu=cortex-a55`), disassembled with `objdump -d`, and the
body timed is: for a loop kernel, its innermost backward-branch loop with the most FP work (the
`#1`/`#2` rows are its two hottest disjoint loops; loops that call a function are outer loops and
skipped), every instruction from the loop head to the
branch, forward branches not followed (so a loop body holding an activation `switch` counts all
its cases); for the Winograd tile transforms (straight-line code), every instruction of the
function once (branches dropped), i.e. one call = one vector of 4 tiles. Each body is timed by:

* **llvm-mca-19** `-mtriple=aarch64-linux-gnu -mcpu=cortex-a55 -iterations=200`, total cycles /
  200. Its A55 model gives FP multiply-accumulate two pipes (two 128-bit FMLA per cycle, where
  Arm's Cortex-A55 Software Optimization Guide says one) and knows nothing of which loads pair
  with an FMLA.
* **A55 model** (`convlab.a55.simulate`): in-order, 2-wide issue; one FP/NEON data-processing
  instruction per cycle (so 8 FLOP/cycle is the peak); `ins v.d[1], x` pairs with an FMLA; one
  load and one store per cycle, loads over 128 bits hold the load pipe a cycle per 128 bits;
  loads of >= 128 bits into vector registers (`ldr q`, `ldp q`, `ldp d`, `ld1 {v.4s}`) never
  issue beside a NEON instruction while `ldr d`/`ldr s`/lane and integer loads do; two integer ALU
  ops, one multiply, one branch per cycle; latencies FMLA/FADD/FMUL 4, other NEON 2, ins from a
  general register 2, loads 3 (128-bit vector loads 4), integer 1 (multiply 3); an FMLA reads an
  accumulator produced by an FMLA 2 cycles late (late forwarding; the 2 is our assumption); a
  taken loop branch ends the cycle; steady state over 40 iterations. Sources: the Cortex-A55 SWOG
  (dual issue, pipelines, latencies, late forwarding), Tencent/ncnn
  docs/developer-guide/arm-a53-a55-dual-issue.md (which loads pair with fmla on the A55),
  LLVM AArch64SchedA55.td (load latencies, pipe counts). Not modelled: WAR stalls (ncnn: a 128-bit
  load 2 cycles after an fmla reading its register), caches, the front end.

% peak = FLOP per iteration (fmla/fmls 2 per lane, fadd/fsub/fmul 1 per lane) / (cycles x 8 FLOP).
Both are models: no figure here was measured on a board.
"""


def report_markdown(rows: list[dict]) -> str:
    return ("# Cortex-A55 cycles of the NEON micro-kernels (static, no board)\n\n"
            "Generated by `convlab a55 report --write results/a55`.\n\n## Method\n\n" + METHOD +
            "\n## Cycles per unit of work\n\n" + markdown(rows) + "\n" + NOTES)


NOTES = """\
## Notes

* **GEMM 8x12.** *before* is the intrinsics kernel as it was at 0cb263d: GCC -O3 turned its
  64-bit half loads back into `ldr q`, broadcast A with `dup` and spilled accumulators to the
  stack every k step (68 instructions for 24 FMLA). *asm* is the k loop now in
  csrc/gemm_8x12_neon_a55.c: each operand as `ldr d` + `ldr x` + `ins`, every one paired with one of
  the 24 `fmla` by element, pointer updates and the branch in the remaining slots, each insert at
  least 4 cycles before its first use: 24 cycles per k step in the A55 model (100% of peak), 25
  under llvm-mca-19. *intrinsics, reference* is the plain version kept beside it (what the
  assembly must match bit for bit in csrc/tests/test_kernels.c).
* **Correctness** of the assembly: `make -C csrc qemu-test` (every NEON kernel vs a double
  reference, and asm vs intrinsics bit for bit, under qemu-aarch64). A deliberately wrong lane
  in one fmla makes it fail: `broken_lane.txt`.
* **llvm-mca vs the model.** llvm-mca is lower where FMLAs issue back to back with 128-bit
  loads (its two FP MAC pipes), higher where it charges wide loads (`ldp q`: 5 load-pipe cycles
  in LLVM's table; the GEMV) or long NEON latencies. The depthwise and Winograd kernels are far
  from FMLA-bound in both models: their 128-bit loads (which do not pair with an FMLA) and other
  NEON instructions (moves, constants, blends, the epilogue's adds and clamps) outnumber the
  FMLAs (depthwise 3x3 #1: 36 FMLA, 25 `ldr q`, 33 other NEON; F(6,3) input: 304 FMLA, 369
  `ldr q`, 834 other NEON). Only the GEMM was rewritten; the other rows are unchanged by this
  branch (renames only), so their before = after.
"""
