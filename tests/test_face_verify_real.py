"""Verification and identification with the trained pipeline on real photographs, at the threshold measured for
the trained extractor (`convlab study verify`, results/real_models/verify.md) and carried in its spec.

The cached models and photographs come from `make setup`; without them these skip, saying so. The tests run on
a private copy of the cache whose MobileFace spec `convlab.realmodels.fetch` has rewritten (no download), so
they hold whether or not the shared cache was converted before the threshold was measured.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from convlab import photos, realmodels
from convlab.cli import main
from convlab.face.compare import DEFAULT_SAME_THRESHOLD, same_threshold
from convlab.face.specs import load_model_spec, stage_spec
from convlab.zoo.spec import ModelSpec, ModelSpecError

SHARED = realmodels.cache_dir()
MODELS = ("centerface", "mtcnn_onet", "mobileface")
PHOTOS = ("obama", "obama2", "obama3", "obama_partial_face", "obama_partial_face2", "biden", "tom_hanks", "group")
MISSING = [f"model {m}" for m in MODELS if not (SHARED / f"{m}.onnx").is_file()] + \
          [f"photograph {p}" for p in PHOTOS if p not in photos.available()]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not cached: run `make setup` "
                                                      "(or `convlab models fetch` and `convlab photos fetch`)")
MEASURED = realmodels.MODELS["mobileface"].same_threshold


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache linking the shared one's files, with its own manifest and MobileFace spec, refreshed by fetch."""
    root = tmp_path_factory.mktemp("cache")
    (root / "models").mkdir()
    for f in SHARED.iterdir():
        if f.name in ("manifest.json", "mobileface.json"):
            shutil.copy(f, root / "models" / f.name)
        else:
            (root / "models" / f.name).symlink_to(f)
    (root / "photos").symlink_to(photos.cache_dir())

    def no_download(req, dest):
        raise AssertionError(f"the spec refresh downloaded {req}")

    mp = pytest.MonkeyPatch()
    mp.setenv("CONVLAB_CACHE", str(root))
    rows = realmodels.fetch(["mobileface"], downloader=no_download)
    assert rows[0]["action"] == "present"
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def pipe(cache):
    from convlab.face.models import build_pipeline, default_models
    from convlab.face.runners import engine_options
    chosen, _ = default_models()
    runner, opts = engine_options(None)
    return build_pipeline(chosen["detector"], chosen["fitter"], chosen["extractor"], runner=runner,
                          engine_options=opts)


def test_the_trained_extractors_spec_carries_its_measured_threshold(cache):
    assert MEASURED is not None and 0.0 < MEASURED < DEFAULT_SAME_THRESHOLD
    spec = stage_spec(load_model_spec(cache / "models" / "mobileface.onnx"))
    assert same_threshold(None, spec) == (MEASURED, "measured for the extractor mobileface")
    assert same_threshold(0.7, spec) == (0.7, "given")


def test_a_spec_without_a_threshold_falls_back_to_the_old_default():
    from convlab.face.models import zoo_model
    spec = stage_spec(zoo_model("extractor")[1])
    value, source = same_threshold(None, spec)
    assert value == DEFAULT_SAME_THRESHOLD == 0.5 and "names no threshold" in source
    d = zoo_model("extractor")[1].to_dict()
    for bad in (1.5, "0.3", True):
        with pytest.raises(ModelSpecError, match="same_threshold"):
            ModelSpec.from_dict({**d, "decoding": {**d["decoding"], "same_threshold": bad}})


@pytest.mark.parametrize("other, same", [("builtin:obama2", True), ("builtin:biden", False)])
def test_verify_at_the_measured_threshold(cache, capsys, other, same):
    assert main(["verify", "builtin:obama", other, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["threshold"] == MEASURED and doc["threshold_source"].startswith("measured")
    assert doc["same_person"] is same, doc["cosine"]
    assert doc["models"]["extractor"] == {"model": "builtin:mobileface", "trained": True}
    assert "predates" not in err


def test_gallery_identifies_the_other_obama_photographs_and_not_the_astronaut(cache, pipe, tmp_path, capsys):
    from convlab.face.gallery import Gallery
    g = Gallery(tmp_path / "g.json", extractor=pipe.extractor.fingerprint)
    for name in ("obama", "biden", "tom_hanks"):
        g.enroll(name, pipe.template(f"builtin:{name}")[0])
    for image in ("obama2", "obama3", "obama_partial_face", "obama_partial_face2"):
        best = g.identify(pipe.template(f"builtin:{image}")[0])[0]
        assert best.name == "obama" and best.score >= MEASURED, (image, best)
    assert max(m.score for m in g.identify(pipe.template("builtin:astronaut")[0])) < MEASURED
    # The command says which threshold it used and marks the match by it.
    assert main(["gallery", "--gallery", str(tmp_path / "g.json"), "identify", "builtin:obama3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["threshold"] == MEASURED and doc["threshold_source"].startswith("measured")
    assert doc["candidates"][0]["name"] == "obama" and doc["candidates"][0]["match"]


def test_a_cache_converted_before_the_threshold_uses_the_default_and_says_so(cache, capsys, tmp_path):
    spec = cache / "models" / "mobileface.json"
    fresh = spec.read_text()
    d = json.loads(fresh)
    del d["decoding"]["same_threshold"]
    spec.write_text(json.dumps(d))
    try:
        assert main(["verify", "builtin:tom_hanks", "builtin:tom_hanks", "--json"]) == 0
        out, err = capsys.readouterr()
        doc = json.loads(out)
        assert doc["threshold"] == DEFAULT_SAME_THRESHOLD and doc["threshold_source"].startswith("default")
        assert "predates its measured threshold" in err and "make setup" in err
        # fetch rewrites it without converting again
        realmodels.fetch(["mobileface"], downloader=lambda req, dest: pytest.fail("downloaded"))
        assert json.loads(spec.read_text())["decoding"]["same_threshold"] == MEASURED
    finally:
        spec.write_text(fresh)


def test_verify_study_quick(cache, tmp_path, capsys):
    assert main(["study", "verify", "--quick", "--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for f in doc["files"]:
        assert (tmp_path / f).is_file(), f
    kinds = {r["pair_type"]: r for r in doc["rows"]}
    assert kinds["genuine, a face vs its own augmentation"]["mean"] > kinds["impostor, augmented"]["mean"]
    assert -1.0 <= doc["threshold"]["threshold"] <= 1.0
    md = (tmp_path / "verify.md").read_text()
    assert "Few identities" in md and "face width" in md and "EER" in md
    assert np.isfinite([r["eer"] for r in doc["roc"]]).all()
