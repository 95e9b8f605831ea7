"""Importing this package registers every kernel (see convlab.registry)."""
from . import reference  # noqa: F401
