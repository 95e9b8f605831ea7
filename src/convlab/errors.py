"""Every error convlab raises on purpose derives from ConvlabError.

They also derive from ValueError so callers that only know the standard library still catch
bad input the usual way.
"""


class ConvlabError(ValueError):
    """Base class of convlab's deliberate errors."""


class ConvInputError(ConvlabError):
    """An argument is malformed: wrong dtype, rank, shape, channel count or parameter value."""


class UnsupportedConvError(ConvlabError):
    """A kernel was asked for a convolution outside the constraints it declares.

    ``constraint`` names the constraint that failed (e.g. ``"kernel_size"``) so tools that
    iterate the registry can report *why* a kernel was skipped.
    """

    def __init__(self, kernel: str, constraint: str, detail: str):
        self.kernel = kernel
        self.constraint = constraint
        self.detail = detail
        super().__init__(f"{kernel} does not support this convolution: {constraint}: {detail}")


def parse_error_text(e: Exception) -> str:
    """A parser's exception as one line for an error message (PyYAML's span several, with a caret)."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is not None and problem:
        context = getattr(e, "context", None)
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f" ({context})" if context else "")
    return " ".join(str(e).split())
