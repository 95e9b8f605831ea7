"""The engine's deliberate errors. All derive from ConvlabError, so the CLI prints them and exits 2."""
from __future__ import annotations

from ..errors import ConvlabError


class ModelLoadError(ConvlabError):
    """The file is not a usable ONNX model: unreadable, truncated, corrupt, or inconsistent."""


class UnsupportedOpError(ModelLoadError):
    """The model uses an op (or an op attribute) the engine does not implement; raised at load."""

    def __init__(self, problems: list[tuple[str, str, str]], supported: list[str]):
        self.problems = problems          # (node name, op type, why)
        self.supported = supported
        lines = "\n".join(f"  node {name!r}: {op}{': ' + why if why else ''}" for name, op, why in problems)
        super().__init__(f"the model uses {len(problems)} unsupported node(s):\n{lines}\n"
                         f"supported ops: {', '.join(supported)}")


class ModelInputError(ConvlabError):
    """An input given to load() or run() is missing, unknown, or of the wrong shape or dtype."""
