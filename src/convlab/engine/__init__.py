"""convlab's ONNX engine: load a model for a fixed input shape, optimise it, run it with convlab's
conv kernels, profile it.

    from convlab.engine import Model
    m = Model.load("net.onnx", input_shapes={"input": (1, 3, 224, 224)},   # fixes dynamic dims
                   conv="auto",          # or "tune" (time each kernel per layer), "direct", "im2col", ...
                   backend=None,         # the default "c" (numba without the C extension); "all" with conv="tune"
                   engine=None,          # "native" (one C call per inference; the default) or "python"
                   threads=1,
                   passes="all",         # or "none", or "fold_bn,fuse_activation", or a list (PASS_ORDER)
                   overrides="kernels.yaml")  # optional {conv layer name: "algo[/backend]"}
    outputs = m.run({"input": x})        # {output name: float32 array}; x must match shape and dtype
    print(m.profile(repeat=10).table())  # per layer: op, shapes, kernel, ms, %, GFLOP/s (.to_json())
    m.memory                             # activation arena: peak bytes vs no-reuse bytes
    m.layers()                           # each conv's kernel, and why it fell back, if it did
    m.kernel_overrides()                 # {conv layer: "algo/backend"}: save, pass back as overrides=
    m.pass_report                        # what each pass changed
    m.save("net.opt.onnx")               # the optimised graph as standard ONNX

Everything that can go wrong with a model is found by ``Model.load`` (unsupported ops listed with
the supported set, corrupt files, undefined values, inconsistent shapes), not by ``run``. Errors
are ConvlabError subclasses: ModelLoadError, UnsupportedOpError, ModelInputError.

A Model runs one input at a time: its activations live in one preallocated arena, so use one
Model per thread. ``run`` returns fresh arrays, never views of the arena.

A conv layer whose requested kernel cannot run it (unsupported shape, backend not built) gets the
best supported kernel instead: ``auto`` on the same backend, then other backends, finally the
NumPy reference; ``m.layers()`` and the profile say so.

Modules: loader (ONNX -> Graph), shapes (shape inference for the fixed shape), ops/ (NumPy ops),
passes/ (one graph pass per file), kernel_choice, arena (liveness-based buffer reuse), executor (the
Python reference executor), native (the graph compiled to C steps run by csrc/engine.c in one call;
plan files for convlab-run), profile, export (Graph -> ONNX), model (this API). The CLI's model options live in convlab.cli.cliargs.
Whole models against onnxruntime and ncnn: `convlab bench models` (convlab.bench.models).
"""
from .errors import ModelInputError, ModelLoadError, UnsupportedOpError
from .model import Model
from .passes import PASS_ORDER
from .ops import SUPPORTED as SUPPORTED_OPS

__all__ = ["Model", "ModelLoadError", "ModelInputError", "UnsupportedOpError", "PASS_ORDER", "SUPPORTED_OPS"]
