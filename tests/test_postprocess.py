"""Detector post-processing: each Numba kernel against its NumPy reference (edge cases and hypothesis),
properties of the NMS results, and the errors bad input gets."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.postprocess import PostprocessInputError, detect_postprocess, detect_postprocess_reference, ssd_priors
from convlab.kernels.numba.support import numba_threads
from convlab.postprocess.decode import decode_boxes_reference, decode_selected, decode_selected_parallel
from convlab.postprocess.iou import iou_reference
from convlab.postprocess.nms import nms, nms_reference
from convlab.postprocess.nms_parallel import nms_parallel
from convlab.postprocess.priors import feature_map_sizes, ssd_priors_reference
from convlab.postprocess.soft_nms import METHODS, soft_nms, soft_nms_reference
from convlab.postprocess.topk import select_top_k, select_top_k_reference

# Coordinates on a coarse grid so duplicates, shared edges, zero-area and inverted boxes all occur.
coord = st.integers(0, 8).map(lambda v: v / 8)
box = st.tuples(coord, coord, coord, coord)
boxes_st = st.lists(box, max_size=25).map(lambda b: np.array(b, np.float32).reshape(-1, 4))
# Few distinct scores: ties are the common case, not the exception.
score_st = st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5, 0.5, 0.9, 1.0])
threshold_st = st.one_of(st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]), st.floats(0, 1))


def _pairwise_iou(b):
    return np.array([iou_reference(b[i], b) for i in range(len(b))]).reshape(len(b), len(b))


# --- priors --------------------------------------------------------------------------------------

@given(w=st.integers(1, 400), h=st.integers(1, 400), levels=st.integers(1, 4), data=st.data())
@settings(max_examples=40)
def test_priors_match_reference(w, h, levels, data):
    steps = data.draw(st.lists(st.sampled_from([4, 8, 16, 32, 64, 100]), min_size=levels, max_size=levels))
    mins = data.draw(st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=3), min_size=levels, max_size=levels))
    ars = data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 1 / 3]), min_size=1, max_size=3))
    clip = data.draw(st.booleans())
    dens = data.draw(st.one_of(st.none(), st.just([[data.draw(st.integers(1, 4)) for _ in m] for m in mins])))
    p = ssd_priors(w, h, mins, steps, ars, clip, dens)
    np.testing.assert_array_equal(p, ssd_priors_reference(w, h, mins, steps, ars, clip, dens))
    dens = dens or [[1] * len(m) for m in mins]
    assert len(p) == sum(fh * fw * sum(d * d for d in ds) * len(ars)
                         for (fh, fw), ds in zip(feature_map_sizes(w, h, steps), dens))
    if clip:
        assert p.min() >= 0 and p.max() <= 1


def test_prior_layout_matches_ssd_head_order():
    p = ssd_priors(320, 240, [[10, 20], [64]], [8, 64], clip=False)
    assert len(p) == 30 * 40 * 2 + 4 * 5
    np.testing.assert_allclose(p[0], [4 / 320, 4 / 240, 10 / 320, 10 / 240], rtol=1e-6)
    np.testing.assert_allclose(p[1], [4 / 320, 4 / 240, 20 / 320, 20 / 240], rtol=1e-6)   # anchor fastest
    np.testing.assert_allclose(p[2, :2], [12 / 320, 4 / 240], rtol=1e-6)                 # then column
    np.testing.assert_allclose(p[2 * 40, :2], [4 / 320, 12 / 240], rtol=1e-6)            # then row
    np.testing.assert_allclose(p[-1], [288 / 320, 224 / 240, 64 / 320, 64 / 240], rtol=1e-6)


def test_densified_anchors_tile_the_cell():
    # FaceBoxes: the 32-px anchor 4x4 times per 32-px cell, the 64-px one 2x2, the 128-px one once.
    p = ssd_priors(64, 32, [[32, 64, 128]], [32], densities=[[4, 2, 1]])
    assert len(p) == 2 * (16 + 4 + 1)
    np.testing.assert_allclose(p[:4, 0] * 64, [4, 12, 20, 28])       # first row of the 4x4 tile
    np.testing.assert_allclose(p[:16:4, 1] * 32, [4, 12, 20, 28])    # its column
    np.testing.assert_allclose(p[16:20, :2] * [64, 32], [[8, 8], [24, 8], [8, 24], [24, 24]])
    np.testing.assert_allclose(p[20] * [64, 32, 64, 32], [16, 16, 128, 128])


@pytest.mark.parametrize("args, message", [
    ((0, 240, [[10]], [8]), "image size"),
    ((320, 240, [[10, 20]], [8], (1.0,), False, [[2]]), "densities must be positive ints shaped like"),
    ((320, 240, [[10]], [8], (1.0,), False, [[0]]), "densities"),
    ((320, 240, [[10], [20]], [8]), "one steps entry per min_sizes"),
    ((320, 240, [[0]], [8]), "must be positive"),
])
def test_priors_bad_config(args, message):
    with pytest.raises(PostprocessInputError, match=message):
        ssd_priors(*args)


# --- threshold + top-k ------------------------------------------------------------------------------

@given(scores=st.lists(score_st, max_size=60), thr=threshold_st, k=st.integers(1, 70))
@settings(max_examples=200)
def test_select_top_k_matches_full_sort(scores, thr, k):
    s = np.array(scores, np.float32)
    got = select_top_k(s, thr, k)
    want = select_top_k_reference(s, np.float32(thr), k)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64


def test_select_top_k_edge_cases():
    assert select_top_k(np.zeros(0, np.float32), 0.1, 5).shape == (0,)
    np.testing.assert_array_equal(select_top_k(np.full(6, 0.5, np.float32), 0.1, 4), [0, 1, 2, 3])   # ties: index order
    assert select_top_k(np.full(6, 1.0, np.float32), 1.0, 4).size == 0       # strictly above the threshold
    np.testing.assert_array_equal(select_top_k(np.array([0, 0.2, 0], np.float32), 0.0, 9), [1])
    rng = np.random.default_rng(0)
    s = rng.random(5000).astype(np.float32)
    np.testing.assert_array_equal(select_top_k(s, 0.05, 1250), np.argsort(-s, kind="stable")[:1250])


@pytest.mark.parametrize("scores, thr, k, message", [
    (np.array([0.1, np.nan], np.float32), 0.1, 3, "scores contains NaN \\(at index 1\\)"),
    (np.zeros((2, 2), np.float32), 0.1, 3, "1-D float array"),
    (np.zeros(3, np.int32), 0.1, 3, "1-D float array"),
    (np.zeros(3, np.float32), 1.5, 3, "conf_threshold must be in \\[0, 1\\]"),
    (np.zeros(3, np.float32), -0.1, 3, "conf_threshold"),
    (np.zeros(3, np.float32), 0.1, 0, "nms_top_k must be a positive integer"),
    (np.zeros(3, np.float32), 0.1, 2.5, "nms_top_k"),
])
def test_select_top_k_bad_input(scores, thr, k, message):
    with pytest.raises(PostprocessInputError, match=message):
        select_top_k(scores, thr, k)


# --- decoding ---------------------------------------------------------------------------------------

def test_decode_matches_reference_and_zero_offsets_give_prior_corners():
    rng = np.random.default_rng(1)
    priors = ssd_priors(320, 240, [[10, 16], [64]], [8, 32])
    loc = rng.normal(0, 2, priors.shape).astype(np.float32)
    idx = rng.choice(len(priors), 300, replace=False).astype(np.int64)
    got = decode_selected(loc, priors, idx, 0.1, 0.2)
    np.testing.assert_allclose(got, decode_boxes_reference(loc, priors, (0.1, 0.2))[idx], rtol=1e-6, atol=1e-7)
    zero = decode_selected(np.zeros_like(loc), priors, idx, 0.1, 0.2)
    p = priors[idx]
    np.testing.assert_allclose(zero, np.c_[p[:, :2] - p[:, 2:] / 2, p[:, :2] + p[:, 2:] / 2], rtol=1e-6, atol=1e-7)
    assert decode_selected(loc, priors, np.zeros(0, np.int64), 0.1, 0.2).shape == (0, 4)


# --- greedy NMS -------------------------------------------------------------------------------------

@given(boxes=boxes_st, thr=threshold_st, top_k=st.integers(1, 30))
@settings(max_examples=300)
def test_nms_matches_reference_and_properties(boxes, thr, top_k):
    got = nms(boxes, thr, top_k)
    np.testing.assert_array_equal(got, nms_reference(boxes, thr, top_k))
    assert len(got) <= top_k and np.all(np.diff(got) > 0)          # a subset, in input (score) order
    kept = boxes[got]
    iou = _pairwise_iou(kept)
    np.fill_diagonal(iou, 0)
    assert (iou <= thr).all()
    if len(got) < top_k:      # nothing was dropped without a reason
        for i in set(range(len(boxes))) - set(got.tolist()):
            assert any(iou_reference(boxes[i], boxes[[k for k in got if k < i]]) > thr)


def test_nms_edge_cases():
    assert nms(np.zeros((0, 4), np.float32), 0.5, 10).shape == (0,)
    same = np.tile(np.array([[0.1, 0.1, 0.5, 0.5]], np.float32), (5, 1))
    np.testing.assert_array_equal(nms(same, 0.5, 10), [0])            # all equal: the first survives
    np.testing.assert_array_equal(nms(same, 1.0, 3), [0, 1, 2])       # IoU 1 is not > 1: keep up to top_k
    point = np.array([[0.3, 0.3, 0.3, 0.3]] * 3 + [[0.5, 0.5, 0.4, 0.6]], np.float32)
    np.testing.assert_array_equal(nms(point, 0.0, 10), [0, 1, 2, 3])  # zero-area / inverted: IoU 0, never NaN
    # Two boxes with IoU exactly 1/3: suppressed only when the threshold is below it.
    pair = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)
    assert len(nms(pair, 1 / 3, 5)) == 2 and len(nms(pair, 0.3333, 5)) == 1


# --- soft-NMS ---------------------------------------------------------------------------------------

@given(boxes=boxes_st, data=st.data(), method=st.sampled_from(sorted(METHODS)),
       thr=threshold_st, sigma=st.sampled_from([0.1, 0.5, 2.0]), top_k=st.integers(1, 30),
       score_thr=st.sampled_from([0.0, 0.05, 0.3]))
@settings(max_examples=200)
def test_soft_nms_matches_reference(boxes, data, method, thr, sigma, top_k, score_thr):
    scores = np.array(data.draw(st.lists(score_st, min_size=len(boxes), max_size=len(boxes))), np.float32)
    keep, ks = soft_nms(boxes, scores, METHODS[method], thr, sigma, score_thr, top_k)
    rkeep, rks = soft_nms_reference(boxes, scores, method, thr, sigma, score_thr, top_k)
    np.testing.assert_array_equal(keep, rkeep)
    np.testing.assert_array_equal(ks, rks)
    assert len(keep) <= top_k and len(set(keep.tolist())) == len(keep)
    assert np.all(np.diff(ks) <= 0) and np.all(ks.astype(np.float64) > score_thr) and np.all(ks <= scores[keep])


def test_soft_nms_edge_cases():
    same = np.tile(np.array([[0, 0, 1, 1]], np.float32), (3, 1))
    s = np.array([0.9, 0.8, 0.7], np.float32)
    keep, ks = soft_nms(same, s, METHODS["gaussian"], 0.3, 0.5, 0.0, 10)
    # Identical boxes: each selection multiplies the rest by exp(-1 / sigma).
    np.testing.assert_array_equal(keep, [0, 1, 2])
    np.testing.assert_allclose(ks, [0.9, 0.8 * np.exp(-2), 0.7 * np.exp(-4)], rtol=1e-6)
    keep, ks = soft_nms(same, s, METHODS["linear"], 0.3, 0.5, 0.0, 10)
    np.testing.assert_array_equal(keep, [0])                 # linear decay by (1 - 1) = 0 drops them
    keep, ks = soft_nms(same, s, METHODS["linear"], 1.0, 0.5, 0.0, 10)
    np.testing.assert_array_equal(ks, s)                     # threshold 1: nothing overlaps "too much"
    e = soft_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0, 0.3, 0.5, 0.1, 5)
    assert e[0].shape == (0,) and e[1].shape == (0,)


# --- end to end -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def detector_like():
    """Outputs shaped and scaled like the zoo detector's, without building the model."""
    rng = np.random.default_rng(42)
    priors = ssd_priors(320, 240, [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]], [8, 16, 32, 64], clip=True)
    loc = rng.normal(0, 0.7, (1, len(priors), 4)).astype(np.float32)
    logit = rng.normal(-2.0, 1.2, len(priors))
    face = 1 / (1 + np.exp(-logit))
    conf = np.stack([1 - face, face], -1)[None].astype(np.float32)
    return loc, conf, priors


# The seed's four settings with greedy NMS; soft-NMS's O(n^2) reference is slow, so fewer settings.
@pytest.mark.parametrize("nms_top_k, top_k, conf_threshold, soft", [
    (5000, 1000, 0.1, None), (2500, 750, 0.1, None), (2500, 750, 0.05, None), (1250, 750, 0.05, None),
    (10, 5, 0.0, None), (1250, 750, 0.05, "linear"), (1250, 750, 0.05, "gaussian"), (10, 5, 0.0, "gaussian")])
def test_detect_matches_reference(detector_like, nms_top_k, top_k, conf_threshold, soft):
    loc, conf, priors = detector_like
    kw = dict(nms_top_k=nms_top_k, top_k=top_k, conf_threshold=conf_threshold, iou_threshold=0.45, soft=soft)
    boxes, scores = detect_postprocess(loc, conf, priors, **kw)
    rboxes, rscores = detect_postprocess_reference(loc, conf, priors, **kw)
    np.testing.assert_array_equal(scores, rscores)
    np.testing.assert_allclose(boxes, rboxes, rtol=1e-6, atol=1e-7)
    assert 0 < len(scores) <= top_k and scores.dtype == np.float32 and boxes.shape == (len(scores), 4)
    assert np.all(np.diff(scores) <= 0) and np.all(scores > np.float32(conf_threshold))


@given(n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1), thr=threshold_st, iou=threshold_st,
       nms_top_k=st.integers(1, 50), top_k=st.integers(1, 50))
@settings(max_examples=150)
def test_detect_properties(n, seed, thr, iou, nms_top_k, top_k):
    rng = np.random.default_rng(seed)
    priors = np.c_[rng.random((n, 2)), rng.choice([0.0, 0.1, 0.3], (n, 2))].astype(np.float32)
    loc = rng.choice([0.0, 0.5, -1.0], (n, 4)).astype(np.float32)
    face = rng.choice([0.0, 0.1, 0.5, 0.5, 1.0], n).astype(np.float32)
    conf = np.c_[1 - face, face]
    boxes, scores = detect_postprocess(loc, conf, priors, conf_threshold=thr, nms_top_k=nms_top_k,
                                       top_k=top_k, iou_threshold=iou)
    rb, rs = detect_postprocess_reference(loc, conf, priors, conf_threshold=thr, nms_top_k=nms_top_k,
                                          top_k=top_k, iou_threshold=iou)
    np.testing.assert_array_equal(scores, rs)
    np.testing.assert_allclose(boxes, rb, rtol=1e-6, atol=1e-7)
    assert len(scores) <= min(top_k, nms_top_k) and np.all(np.diff(scores) <= 0) and np.all(scores > np.float32(thr))
    pair = _pairwise_iou(boxes)
    np.fill_diagonal(pair, 0)
    assert (pair <= iou + 1e-6).all()
    decoded = decode_boxes_reference(loc, priors)
    for b, s in zip(boxes, scores):       # every detection is one of the input anchors, with its score
        assert np.any(np.all(np.isclose(decoded, b, rtol=1e-6, atol=1e-7), axis=1) & (face == s))


def test_detect_nothing_above_threshold(detector_like):
    loc, conf, priors = detector_like
    boxes, scores = detect_postprocess(loc, conf, priors, conf_threshold=1.0)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    b2, s2 = detect_postprocess(loc[0], conf[0], priors, conf_threshold=0.1, top_k=3)   # (A, k) also accepted
    assert b2.shape == (3, 4)


def _set(a, index, value):
    a = a.copy()
    a[index] = value
    return a


@pytest.mark.parametrize("change, message", [
    (lambda l, c, p: (l, _set(c, (0, 3, 1), np.nan), p), "conf contains NaN \\(at row 3\\)"),
    (lambda l, c, p: (_set(l, (0, 0, 0), np.inf), c, p), "loc contains an infinite value"),
    (lambda l, c, p: (l, c, _set(p, (5, 2), np.nan)), "priors contains NaN"),
    (lambda l, c, p: (l[:, :-1], c, p), "same number of anchors"),
    (lambda l, c, p: (l[..., :3], c, p), "loc must have shape \\(A, 4\\)"),
    (lambda l, c, p: (l, c.astype(np.int32), p), "conf must be a float array"),
])
def test_detect_bad_arrays(detector_like, change, message):
    with pytest.raises(PostprocessInputError, match=message):
        detect_postprocess(*change(*detector_like))


@pytest.mark.parametrize("kw, message", [
    (dict(conf_threshold=1.1), "conf_threshold must be in \\[0, 1\\]"),
    (dict(iou_threshold=-0.01), "iou_threshold must be in \\[0, 1\\]"),
    (dict(iou_threshold=float("nan")), "iou_threshold"),
    (dict(top_k=0), "top_k must be a positive integer"),
    (dict(nms_top_k=True), "nms_top_k"),
    (dict(soft="hard"), "soft must be None or one of"),
    (dict(face_class=2), "face_class 2 out of range"),
    (dict(variances=(0.1,)), "variances must be two positive numbers"),
    (dict(soft="gaussian", soft_sigma=0), "soft_sigma must be positive"),
])
def test_detect_bad_parameters(detector_like, kw, message):
    with pytest.raises(PostprocessInputError, match=message):
        detect_postprocess(*detector_like, **kw)


# --- threaded paths: identical to the single-thread kernels -----------------------------------------

@given(boxes=boxes_st, thr=threshold_st, top_k=st.integers(1, 30), block=st.sampled_from([1, 2, 3, 7, 128]),
       threads=st.sampled_from([1, 2]))
@settings(max_examples=200)
def test_nms_parallel_matches_reference(boxes, thr, top_k, block, threads):
    np.testing.assert_array_equal(nms_parallel(boxes, thr, top_k, threads, block), nms_reference(boxes, thr, top_k))


def test_nms_parallel_edge_cases_and_many_boxes(detector_like):
    assert nms_parallel(np.zeros((0, 4), np.float32), 0.5, 10).shape == (0,)
    same = np.tile(np.array([[0.1, 0.1, 0.5, 0.5]], np.float32), (300, 1))
    np.testing.assert_array_equal(nms_parallel(same, 0.5, 10), [0])
    np.testing.assert_array_equal(nms_parallel(same, 1.0, 200), np.arange(200))    # top_k reached mid-block
    loc, _, priors = detector_like
    boxes = decode_boxes_reference(loc[0], priors)
    for top_k in (1000, 37):
        np.testing.assert_array_equal(nms_parallel(boxes, 0.3, top_k), nms(boxes, 0.3, top_k))


def test_decode_parallel_equals_serial():
    rng = np.random.default_rng(3)
    priors = ssd_priors(320, 240, [[10, 16], [64]], [8, 32])
    loc = rng.normal(0, 2, priors.shape).astype(np.float32)
    idx = rng.choice(len(priors), 1000, replace=False).astype(np.int64)
    with numba_threads(2):
        np.testing.assert_array_equal(decode_selected_parallel(loc, priors, idx, 0.1, 0.2),
                                      decode_selected(loc, priors, idx, 0.1, 0.2))
        assert decode_selected_parallel(loc, priors, idx[:0], 0.1, 0.2).shape == (0, 4)


@pytest.mark.parametrize("nms_top_k, top_k, conf_threshold", [(5000, 1000, 0.1), (1250, 750, 0.05), (10, 5, 0.0)])
def test_detect_two_threads_equals_one(detector_like, nms_top_k, top_k, conf_threshold):
    loc, conf, priors = detector_like
    kw = dict(nms_top_k=nms_top_k, top_k=top_k, conf_threshold=conf_threshold)
    one, two = detect_postprocess(loc, conf, priors, **kw), detect_postprocess(loc, conf, priors, threads=2, **kw)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    with pytest.raises(PostprocessInputError, match="threads"):
        detect_postprocess(loc, conf, priors, threads=0)
