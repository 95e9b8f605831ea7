"""The face pipeline's deliberate errors (all ConvlabError, so the CLI prints them and exits 2)."""
from ..errors import ConvlabError
from ..zoo.spec import ModelSpecError  # noqa: F401  (re-exported: one spec error type everywhere)


class ImageError(ConvlabError):
    """An image cannot be used: unreadable, truncated, empty, or in a pixel mode we refuse to guess."""


class GalleryError(ConvlabError):
    """A gallery operation is invalid (unknown name, template of the wrong size, ...)."""


class GalleryCorruptError(GalleryError):
    """The gallery file exists but cannot be trusted. It is left untouched for the user to inspect."""
