"""The face pipeline with the trained built-in models on real photographs (convlab.photos, convlab.realmodels).

`make setup` caches the models (`convlab models fetch`) and the photographs (`convlab photos fetch`), so
these run in CI; elsewhere they skip, saying which is missing. Expected values were measured or marked
by hand on the photographs (results/real_models/).
"""
from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from convlab import photos, realmodels
from convlab.cli import main
from convlab.errors import ConvlabError
from convlab.face.crosscheck import stage_diffs
from convlab.face.image import load_image
from convlab.face.models import build_pipeline, default_models
from convlab.face.runners import engine_options


REAL_MODELS = realmodels.cache_dir()      # before any test points CONVLAB_CACHE elsewhere


def _missing_models():
    return [n for n in ("centerface", "mtcnn_onet") if not (realmodels.cache_dir() / f"{n}.onnx").is_file()]


needs_models = pytest.mark.skipif(bool(_missing_models()), reason=f"real models {_missing_models()} not cached: "
                                                                  "run `make setup` (or `convlab models fetch`)")


def needs_photo(name):
    return pytest.mark.skipif(name not in photos.available(), reason=f"photograph {name!r} not cached: run `make "
                                                                      "setup` (or `convlab photos fetch`)")


# Eileen Collins in scikit-image's 512x512 astronaut: face box and 5 points marked by hand (x, y pixels).
ASTRONAUT_BOX = (180.0, 58.0, 271.0, 180.0)
ASTRONAUT_POINTS = [(202.6, 101.4), (245.0, 104.0), (224.0, 127.0), (203.0, 140.0), (243.0, 141.0)]


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def convlab_pipe():
    runner, opts = engine_options(None)
    return build_pipeline("builtin:centerface", "builtin:mtcnn_onet", runner=runner, engine_options=opts)


@needs_models
def test_demo_finds_the_astronauts_face_with_trained_models(capsys):
    assert main(["run", "--demo", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["models"]["detector"] == {"model": "builtin:centerface", "trained": True}
    assert doc["models"]["fitter"] == {"model": "builtin:mtcnn_onet", "trained": True}
    assert len(doc["faces"]) == 1
    face = doc["faces"][0]
    assert _iou(face["box"], ASTRONAUT_BOX) > 0.75 and face["score"] > 0.8
    iod = np.linalg.norm(np.subtract(*ASTRONAUT_POINTS[:2]))
    err_px = np.linalg.norm(np.array(face["landmarks"]) - ASTRONAUT_POINTS, axis=1)
    assert (err_px < 0.15 * iod).all(), err_px           # measured: at most 0.063 of the inter-ocular distance
    if doc["models"]["extractor"]["trained"] is False:
        assert "untrained zoo extractor" in err


@needs_models
@needs_photo("group")
def test_group_photograph_faces(convlab_pipe):
    res = convlab_pipe.run("builtin:group")
    # Six people; CenterFace finds all six at 0.857-0.926 (results/real_models/nms_real.md). One either way
    # leaves room for another engine's last bits on the weakest face, not for a missed or doubled face.
    assert 5 <= len(res.faces) <= 7
    assert all(f.score > 0.5 for f in res.faces)
    boxes = np.array([f.box for f in res.faces])
    assert max(_iou(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]) < 0.1     # six different faces


@needs_models
@needs_photo("obama")
def test_engine_matches_onnxruntime_stage_by_stage_on_a_photograph(convlab_pipe):
    ref = build_pipeline("builtin:centerface", "builtin:mtcnn_onet", runner="onnxruntime")
    diffs, ref_res, res = stage_diffs("builtin:obama", ref, convlab_pipe)
    assert {"detector", "fitter"} <= set(diffs) and diffs["fitter"].calls == 1
    for d in diffs.values():
        assert not d.problems and d.max_abs <= 1e-4 * d.max_ref, d
    assert len(res.faces) == len(ref_res.faces) == 1


@needs_models
def test_builtin_models_by_name_and_their_errors(capsys, tmp_path):
    assert main(["run", "--demo", "--fitter", "builtin:centerface"]) == 2
    assert "is a detector model, not a fitter" in capsys.readouterr().err
    assert main(["run", "--demo", "--detector", "builtin:nope"]) == 2
    assert "built-in detectors: centerface" in capsys.readouterr().err
    assert main(["run", "--demo", "--detector", "builtin:centerface", "--detector-spec", str(tmp_path / "x.json")]) == 2
    assert "carry their own" in capsys.readouterr().err
    # --fitter none: CenterFace's own landmarks; the output says so.
    assert main(["run", "--demo", "--fitter", "none"]) == 0
    assert "fitter the detector's own landmarks" in capsys.readouterr().out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_without_cached_models_the_zoo_runs_with_a_note(cache, capsys):
    chosen, notes = default_models()
    assert chosen == {"detector": None, "fitter": None, "extractor": chosen["extractor"]}
    assert "make setup" in notes["detector"]
    assert main(["run", "--demo", "--max-faces", "1"]) == 0
    out, err = capsys.readouterr()
    assert "detector zoo:detector (UNTRAINED)" in out
    assert "make setup" in err and "untrained" in err


@needs_models
@pytest.mark.parametrize("spec_in", ["face_spec", "file beside"])
def test_any_real_model_with_role_extractor_is_the_default_extractor(cache, monkeypatch, capsys, spec_in):
    """The resolution is by role: a new realmodels entry with role "extractor" and an "embedding" spec (its
    face_spec, or a spec file its fetch writes beside the cached model) is used without further code (here
    the zoo's extractor stands in for a trained one)."""
    from convlab.face.models import zoo_model
    (cache / "models").mkdir(parents=True)
    for n in ("centerface", "mtcnn_onet"):
        (cache / "models" / f"{n}.onnx").symlink_to(REAL_MODELS / f"{n}.onnx")
    model, spec = zoo_model("extractor")
    (cache / "models" / "stand_in.onnx").write_bytes(model.SerializeToString())
    if spec_in == "file beside":
        spec.save(cache / "models" / "stand_in.json")
    monkeypatch.setitem(realmodels.MODELS, "stand_in", realmodels.RealModel(
        "stand_in", "none==0", "stand_in.onnx", "0" * 64, (1, 3, 112, 112), "NCHW", 127.5, 128.0, "a stand-in",
        role="extractor", face_spec=spec.to_dict() if spec_in == "face_spec" else None))
    assert default_models()[0] == {"detector": "builtin:centerface", "fitter": "builtin:mtcnn_onet",
                                   "extractor": "builtin:stand_in"}
    assert main(["run", "--demo", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["models"]["extractor"] == {"model": "builtin:stand_in", "trained": True}
    assert "untrained" not in err


@needs_models
def test_models_list_and_export(tmp_path, capsys):
    assert main(["models", "list", "--json"]) == 0
    roles = {r["model"]: r["role"] for r in json.loads(capsys.readouterr().out)}
    assert roles["centerface"] == "detector" and roles["mtcnn_onet"] == "fitter" and roles["mtcnn_rnet"] == "cascade"
    out = tmp_path / "exported"
    assert main(["models", "export", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    cached_roles = {m.name for m in realmodels.MODELS.values() if m.role != "cascade"
                    and (realmodels.cache_dir() / m.file_name).is_file()}
    assert {r["model"] for r in rows} == cached_roles >= {"centerface", "mtcnn_onet"}
    assert realmodels.sha256_file(out / "centerface.onnx") == realmodels.MODELS["centerface"].sha256
    assert main(["models", "export", str(out)]) == 2                       # never over a file without --force
    assert "--force" in capsys.readouterr().err
    assert main(["models", "export", str(realmodels.cache_dir()), "centerface", "--force"]) == 2   # nor the cache
    assert "also an input" in capsys.readouterr().err
    assert main(["models", "export", str(out), "mtcnn_pnet"]) == 2
    assert "face-pipeline role" in capsys.readouterr().err
    # The exported pair is a model + spec the pipeline takes as files.
    res = build_pipeline(str(out / "centerface.onnx"), str(out / "mtcnn_onet.onnx"), runner="onnxruntime",
                         resize="letterbox").run("builtin:astronaut")
    assert len(res.faces) == 1 and _iou(res.faces[0].box, ASTRONAUT_BOX) > 0.75


# ---- photographs ---------------------------------------------------------------------------------------

def test_cached_photographs_match_their_pins_and_form_a_labelled_set():
    for name in photos.available():
        assert realmodels.sha256_file(photos.path(name)) == photos.PHOTOS[name].sha256
        assert load_image(f"builtin:{name}").ndim == 3
    labelled = photos.labelled()
    assert ("builtin:astronaut", "eileen_collins") in labelled
    assert all(p.startswith("builtin:") and who for p, who in labelled)
    assert "builtin:group" not in dict(labelled)          # a group photograph has no one label


def _fake_archives(tmp: Path, members: dict[str, bytes]):
    """A fake sdist (.tar.gz) and wheel with the given members, and a downloader that counts its calls."""
    calls = []

    def downloader(req, dest, sdist=False):
        calls.append((req, sdist))
        if sdist:
            p = Path(dest) / "fake-1.0.tar.gz"
            with tarfile.open(p, "w:gz") as t:
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
        else:
            p = Path(dest) / "fake-1.0-py3-none-any.whl"
            with zipfile.ZipFile(p, "w") as z:
                for name, data in members.items():
                    z.writestr(name, data)
        return p
    return downloader, calls


def test_photo_fetch_checks_hashes_and_is_idempotent(cache, monkeypatch, tmp_path):
    import hashlib
    data = {"fake-1.0/a.jpg": b"jpeg a", "pkg/b.png": b"png b"}
    monkeypatch.setattr(photos, "PHOTOS", {
        "a": photos.Photo("a", "someone", "fake==1.0", True, "fake-1.0/a.jpg", hashlib.sha256(b"jpeg a").hexdigest(),
                          1, "fake"),
        "b": photos.Photo("b", None, "fakewheel==1.0", False, "pkg/b.png", hashlib.sha256(b"png b").hexdigest(), 3,
                          "fake")})
    downloader, calls = _fake_archives(tmp_path, data)
    rows = photos.fetch(downloader=downloader)
    assert [(r["photo"], r["action"]) for r in rows] == [("a", "fetched"), ("b", "fetched")]
    assert calls == [("fake==1.0", True), ("fakewheel==1.0", False)]
    assert photos.path("a").read_bytes() == b"jpeg a" and photos.path("b").name == "b.png"
    man = json.loads((cache / "photos" / "manifest.json").read_text())
    assert man["a"]["person"] == "someone" and man["a"]["source"] == "fake==1.0 (sdist)" and man["b"]["faces"] == 3
    assert [r["action"] for r in photos.fetch(downloader=downloader)] == ["present", "present"] and len(calls) == 2
    monkeypatch.setitem(photos.PHOTOS, "a", photos.PHOTOS["a"].__class__(
        "a", "someone", "fake==1.0", True, "fake-1.0/a.jpg", "0" * 64, 1, "fake"))
    (cache / "photos" / "a.jpg").unlink()
    with pytest.raises(ConvlabError, match="sha256"):
        photos.fetch(["a"], downloader=downloader)
    assert not (cache / "photos" / "a.jpg").exists()


def test_missing_photograph_says_to_run_make_setup(cache, capsys):
    assert main(["run", "builtin:group", "--detector", "zoo"]) == 2
    assert "make setup" in capsys.readouterr().err
    assert main(["photos", "list"]) == 0
    assert "make setup" in capsys.readouterr().out


def _cached_trained_extractor():
    from convlab.face.models import real_models
    return [n for n in real_models("extractor") if (REAL_MODELS / realmodels.MODELS[n].file_name).is_file()]


@needs_models
@pytest.mark.skipif(not _cached_trained_extractor(), reason="no trained template extractor is built in and cached yet "
                                                           "(convlab.realmodels has none with role 'extractor')")
def test_labelled_photographs_verify_with_the_trained_extractor():
    """Same-person pairs of the labelled set score above different-person pairs on average (the least any
    trained extractor must do; its own thresholds come from measuring it)."""
    chosen, _ = default_models()
    pipe = build_pipeline(chosen["detector"], chosen["fitter"], chosen["extractor"], runner="onnxruntime")
    labelled = photos.labelled()
    templates = [pipe.template(image)[0] for image, _ in labelled]
    same, other = [], []
    for i, (_, a) in enumerate(labelled):
        for j in range(i + 1, len(labelled)):
            (same if labelled[j][1] == a else other).append(float(templates[i] @ templates[j]))
    assert same and other and np.mean(same) > np.mean(other)


def test_a_transposed_planar_fitter_maps_points_back_to_the_image():
    """MTCNN O-Net's conventions (the crop fed transposed, points as 5 x then 5 y): a stand-in network that
    points at the brightest pixel it is shown must land on that pixel of the image."""
    from convlab.face.specs import stage_spec
    from convlab.face.stages import Fitter
    from convlab.zoo.spec import ModelSpec

    class BrightestPixel:
        input_names, output_names = ["input_3"], ["dense_5", "dense_6", "softmax_2"]

        def __call__(self, feeds):
            x = feeds["input_3"][0, :, :, 0]                 # (crop x, crop y): the crop arrives transposed
            cx, cy = np.unravel_index(np.argmax(x), x.shape)
            pts = np.r_[[(cx + 0.5) / 48] * 5, [(cy + 0.5) / 48] * 5]
            return {"dense_5": np.zeros((1, 4)), "dense_6": pts[None], "softmax_2": np.array([[0.0, 1.0]])}

    img = np.zeros((100, 200, 3), np.uint8)
    img[39:42, 129:132] = 255                                 # a dot centred on pixel (130, 40)
    fitter = Fitter(BrightestPixel(), stage_spec(ModelSpec.from_dict(realmodels.MTCNN_ONET_SPEC)))
    pts = fitter(img, np.array([100.0, 20.0, 160.0, 80.0]))
    assert np.abs(pts - [130.5, 40.5]).max() < 1.5, pts      # pixel (130, 40) covers [130, 131] x [40, 41]


@needs_models
def test_nms_real_study_quick(tmp_path, capsys):
    assert main(["study", "nms-real", "--quick", "--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    settings = [(r["nms_top_k"], r["top_k"], r["confidence"]) for r in doc["rows"]]
    assert settings[0] == (5000, 750, 0.1) and (1250, 750, 0.05) in settings
    assert all(r["ap_drop_confident_pct"] == 0.0 for r in doc["rows"])       # confident faces survive every cut
    assert doc["detections"][0]["image"] == "astronaut" and doc["detections"][0]["detections"] == 1
    md = (tmp_path / "nms_real.md").read_text()
    assert "seed accuracy drop" in md and "i7-4770hq" in md and "trained" in md
