"""The import structure stays a house with floors (ARCHITECTURE.md): checked from the source text.

Every module of src/convlab is parsed (nothing is imported), its imports are resolved to convlab
modules and folded to the package level (convlab.sweep, convlab.api, ...). Every package imports
from its floor of ARCHITECTURE.md or below; the graph has no cycle except the registry's deliberate
plugin loading (registry -> kernels, whose modules register themselves with the registry); the
ground floor (fileio, device, errors) imports nothing of convlab; and no module imports another
module's private name (`from x import _y`; a private submodule
only from inside its own package). csrc/ must have no #include cycle among its .c/.h files.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CSRC = ROOT / "csrc"
ALLOWED_CYCLE_EDGES = {("convlab.registry", "convlab.kernels")}   # registry._load_kernels: the plugins
GROUND_FLOOR = {"convlab.fileio": set(), "convlab.device": set(), "convlab.errors": set()}
# The floors of ARCHITECTURE.md: a package imports from its own floor or below. A new package must be
# placed here (and on the page).
# memory is arriving from another branch (issue 16).
FLOORS = {
    0: "errors fileio device paths progress memory",
    1: "convlab spec activation registry kernels _native selection api fpenv peers",
    2: "engine zoo postprocess realmodels photos importers",
    3: "bench sweep studies face npu a55",
    4: "cli __main__",
}
FLOOR = {("convlab." + name if name != "convlab" else name): f for f, names in FLOORS.items() for name in names.split()}


def modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in sorted((SRC / "convlab").rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


def imports(mods) -> list[tuple[str, str, str | None, int]]:
    """(importer, imported module, imported name or None, line) for every import of a convlab module,
    top-level or inside a function alike."""
    out = []
    for mod, (path, is_pkg) in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out += [(mod, a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "convlab"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "convlab":
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    out.append((mod, sub, None, node.lineno) if sub in mods else (mod, target, a.name, node.lineno))
    return out


def package(mod: str) -> str:
    return ".".join(mod.split(".")[:2])


def package_graph(edges) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for a, b, _, _ in edges:
        pa, pb = package(a), package(b)
        if pa != pb:
            g.setdefault(pa, set()).add(pb)
            g.setdefault(pb, set())
    return g


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_packages_but_the_kernel_plugins():
    edges = imports(modules())
    graph = package_graph(edges)
    assert ("convlab.kernels" in graph["convlab.registry"]), "the plugin edge moved: update ALLOWED_CYCLE_EDGES"
    for a, b in ALLOWED_CYCLE_EDGES:
        graph[a].discard(b)
    found = cycles(graph)
    where = {(package(a), package(b)): f"{a} -> {b}:{line}" for a, b, _, line in edges}
    detail = [" / ".join(where[(x, y)] for x in c for y in c if x != y and (x, y) in where) for c in found]
    assert not found, "import cycles between packages:\n" + "\n".join(detail)


def test_every_package_imports_from_its_floor_or_below():
    edges = imports(modules())
    graph = package_graph(edges)
    unplaced = sorted(set(graph) - set(FLOOR))
    assert not unplaced, f"packages on no floor (add them to FLOORS and ARCHITECTURE.md): {unplaced}"
    up = sorted({f"{a}:{line} imports {b} (floor {FLOOR[package(a)]} -> {FLOOR[package(b)]})"
                 for a, b, _, line in edges if FLOOR[package(a)] < FLOOR[package(b)]})
    assert not up, "imports reaching up a floor:\n" + "\n".join(up)


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_ground_floor_imports_nothing_above_it():
    for mod, what, _, line in imports(modules()):
        if mod in GROUND_FLOOR:
            assert package(what) in GROUND_FLOOR[mod] | {"convlab.errors"} - {mod}, \
                f"{mod}:{line} imports {what}: the ground floor imports nothing of convlab above it"


def test_no_private_name_imported_from_another_module():
    mods = modules()
    bad = []
    for mod, what, name, line in imports(mods):
        if name is not None and name.startswith("_") and not name.startswith("__") and what != mod:
            bad.append(f"{mod}:{line} imports {what}.{name}")
        last = what.rsplit(".", 1)[-1]
        if name is None and last.startswith("_") and not last.startswith("__"):
            owner = what.rsplit(".", 1)[0]       # a private submodule: only from inside its package
            if not (mod == owner or mod.startswith(owner + ".")):
                bad.append(f"{mod}:{line} imports the private module {what}")
    assert not bad, "private names used from outside their module:\n" + "\n".join(bad)


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def include_graph() -> dict[str, set[str]]:
    files = [p for p in CSRC.rglob("*") if p.suffix in (".c", ".h")]
    graph: dict[str, set[str]] = {}
    for f in files:
        deps = graph.setdefault(str(f.relative_to(CSRC)), set())
        for name in INCLUDE.findall(f.read_text(errors="replace")):
            for d in (f.parent, CSRC / "include", CSRC):
                if (d / name).is_file():
                    deps.add(str((d / name).resolve().relative_to(CSRC.resolve())))
                    break
    return graph


def test_no_include_cycle_in_csrc():
    graph = include_graph()
    assert "include/cl_common.h" in graph and any(graph.values()), "no C sources found"
    assert not cycles(graph), f"#include cycles in csrc/: {cycles(graph)}"
