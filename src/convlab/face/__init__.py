"""The face pipeline runner: detector -> fitter -> 5-point alignment -> extractor -> compare.

Every network stage runs through a runner (runners.py) so engines can be swapped and compared
stage by stage; pre/post-processing comes from each model's spec (convlab.zoo.spec.ModelSpec).
The zoo models are untrained, so faces found on a photo with them are arbitrary; the runner,
its per-stage timings and the engine agreement are what is real.
"""
from .gallery import Gallery, Match
from .models import build_pipeline
from .pipeline import FacePipeline, Face, Result

__all__ = ["build_pipeline", "FacePipeline", "Face", "Result", "Gallery", "Match"]
