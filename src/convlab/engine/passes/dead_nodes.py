"""Dead-node removal: nodes no graph output depends on, Identity/Dropout pass-throughs, and
constants nothing reads."""
from __future__ import annotations

_PASS_THROUGH = ("Identity", "Dropout")


def run(graph):
    details = []
    # Pass-throughs: consumers read the input directly (unless the output is a graph output).
    rename = {}
    kept = []
    for n in graph.nodes:
        n.inputs = [rename.get(i, i) for i in n.inputs]
        if n.op in _PASS_THROUGH and n.outputs[0] not in graph.outputs:
            rename[n.outputs[0]] = n.inputs[0]
            details.append(f"{n.op} {n.name}")
            continue
        kept.append(n)
    needed = set(graph.outputs)
    live = []
    for n in reversed(kept):
        if any(o in needed for o in n.outputs):
            live.append(n)
            needed.update(i for i in n.inputs if i)
        else:
            details.append(f"unused {n.op} {n.name}")
    graph.nodes = live[::-1]
    unused = [c for c in graph.consts if c not in needed]
    for c in unused:
        del graph.consts[c]
    removed = len(details)
    if unused:
        details.append(f"{len(unused)} unused constant(s)")
    return removed + len(unused), details
