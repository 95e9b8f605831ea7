"""Detector post-processing kernels: SSD priors, box decoding, threshold + partial top-k, greedy and
soft NMS. Each Numba kernel sits next to the plain NumPy reference it is tested against."""
from .checks import PostprocessInputError
from .detect import detect_postprocess, detect_postprocess_reference
from .priors import priors_for_spec, ssd_priors

__all__ = ["detect_postprocess", "detect_postprocess_reference", "ssd_priors", "priors_for_spec",
           "PostprocessInputError"]
