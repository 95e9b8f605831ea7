"""Studies that reproduce a seed table on the machine they run on (`convlab study NAME`).

Each study is one module with `run(out_dir, quick, **options) -> dict` that measures, writes its
tables (CSV + markdown), a JSON sidecar (machine, load average, options) and PNG plots under
`results/<device-id>/` (or `--out`), with the seed's figures (`results/reference/line2019_*.csv`)
beside ours. `quick` shrinks repeats, images and models so tests can run every study in seconds;
its timings mean nothing.

    nms        detector post-processing latency and accuracy over NMS_TOP_K x TOP_K x confidence
    nms-real   the same grid on a trained detector (CenterFace) over real photographs, + faces found per photograph
    verify     genuine vs impostor cosines of the trained pipeline on real photographs and augmentations: ROC, EER,
               the decision threshold, genuine scores vs face size
    fusion     model latency: original / + BN folding / + conv-activation fusion, per backend
    subnormal  subnormal weights: counts, injected fractions, flushed vs FTZ/DAZ, a per-operation microbenchmark
"""
STUDIES = ("nms", "nms-real", "verify", "fusion", "subnormal")
