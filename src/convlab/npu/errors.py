"""Errors of the NPU path; all are ConvlabErrors, so the CLI prints them and exits 2."""
from ..errors import ConvlabError


class NpuError(ConvlabError):
    """Base class of the NPU path's errors."""


class ToolkitUnavailableError(NpuError):
    """The rknn venv (RKNN-Toolkit2) is missing or broken."""


class ToolkitRejectedError(NpuError):
    """The toolkit refused the model or failed while converting / simulating it."""


class UnsupportedModelError(NpuError):
    """The model uses something the NPU path cannot take (custom ops, several inputs, dynamic shapes...)."""


class CalibrationError(NpuError):
    """Calibration data is missing, unreadable or does not match the model input."""


class BoardUnavailableError(NpuError):
    """Not on an RK3568 with rknn-toolkit-lite2 and the NPU device."""
