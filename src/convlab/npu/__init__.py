"""The RKNN NPU path for the RK3568: convert ONNX models (fp16 / int8 / hybrid), run them in the
toolkit's simulator, compare them against convlab's CPU path, and run them on a board.

RKNN-Toolkit2 pins numpy<=1.26.4, onnx<=1.18 and torch<=2.4, which the main environment cannot
share, so it lives in its own venv (`make rknn`, cached outside the clone; `install.py`) and every
toolkit call goes through `worker.py`, run by that venv's python and driven from here by
`toolkit.Toolkit` (JSON requests, arrays as .npy files). Modules:

    toolkit      find the rknn venv, start and talk to the worker
    worker       the only code that imports rknn.api (runs in the rknn venv)
    install      create / check the rknn venv (`make rknn`)
    model_prep   check an ONNX model for the toolkit, re-export at a supported opset / IR version,
                 move rank-3 concats off the channel axis (int8 .rknn size); trained models
                 (`builtin:NAME`): initializer inputs dropped, dynamic dims fixed, NHWC fed as NCHW
    calibration  calibration set from an image folder or generated images, as the toolkit reads it
    accuracy     per-output error metrics; the toolkit's per-layer accuracy analysis, parsed
    convert      `convlab npu convert`: .rknn + JSON report, written atomically
    compare      `convlab npu compare`: simulator vs convlab's CPU engine, one table in results/
    runner       NpuRunner: an NPU stage with the face pipeline's runner interface
    metrics      task-level agreement: IoU-matched detections, confidence error by face size,
                 inter-ocular landmark NME, template cosine, verification decisions flipped
    study        `convlab npu study`: fp16 / int8 / hybrids of the trained face models against fp32
    pipeline     --stage placements (`convlab run / verify / npu pipeline`): face stages on the NPU or
                 another CPU engine; face-level agreement with the all-CPU pipeline
    board        `convlab npu bench`: latency per model and per face pipeline stage on an RK3568
                 through rknn-toolkit-lite2, against the seed budgets
"""
