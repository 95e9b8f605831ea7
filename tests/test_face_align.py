"""Face alignment: the Umeyama similarity fit and the affine warps built on it."""
import numpy as np
import pytest

from convlab.errors import ConvInputError
from convlab.face.align import (ARCFACE_POINTS, CANONICAL_POINTS, align_face, apply_affine, box_to_crop_matrix,
                                invert_affine, similarity_transform, warp_affine)


def similarity(scale, angle, tx, ty):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


@pytest.mark.parametrize("seed", range(5))
def test_similarity_transform_recovers_a_known_transform_exactly(seed):
    rng = np.random.default_rng(seed)
    m_true = similarity(rng.uniform(0.2, 5), rng.uniform(-np.pi, np.pi), *rng.uniform(-300, 300, 2))
    src = rng.uniform(0, 500, (5, 2))
    m = similarity_transform(src, apply_affine(m_true, src))
    np.testing.assert_allclose(m, m_true, rtol=0, atol=1e-9 * np.abs(m_true).max())


def test_similarity_transform_is_the_least_squares_fit():
    rng = np.random.default_rng(7)
    src = rng.uniform(0, 100, (5, 2))
    dst = apply_affine(similarity(1.3, 0.4, 5, -2), src) + rng.normal(0, 2, (5, 2))
    m = similarity_transform(src, dst)
    best = ((apply_affine(m, src) - dst) ** 2).sum()
    # Any perturbation of (scale, angle, translation) fits worse.
    s, a = np.hypot(m[0, 0], m[1, 0]), np.arctan2(m[1, 0], m[0, 0])
    for d in np.eye(4) * 1e-3:
        for sign in (1, -1):
            p = similarity(s + sign * d[0], a + sign * d[1], m[0, 2] + sign * d[2], m[1, 2] + sign * d[3])
            assert ((apply_affine(p, src) - dst) ** 2).sum() > best


def test_similarity_transform_never_mirrors():
    src = ARCFACE_POINTS
    mirrored = src * np.array([-1.0, 1.0])  # a left-right flipped face
    m = similarity_transform(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


@pytest.mark.parametrize("src, dst", [(np.zeros((5, 2)), ARCFACE_POINTS), (np.ones((1, 2)), np.ones((1, 2))),
                                      (np.ones((5, 3)), np.ones((5, 3))), (ARCFACE_POINTS, ARCFACE_POINTS[:4]),
                                      (np.full((5, 2), np.nan), ARCFACE_POINTS)])
def test_similarity_transform_rejects_degenerate_points(src, dst):
    with pytest.raises(ConvInputError):
        similarity_transform(src, dst)


def test_warp_by_whole_pixels_moves_pixels_exactly():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    m = np.array([[1.0, 0, -3], [0, 1.0, -5]])      # output p shows input p + (3, 5)
    out = warp_affine(img, m, (10, 12))
    np.testing.assert_array_equal(out, img[5:15, 3:15].astype(np.float32))


def test_warp_outside_the_image_is_black():
    img = np.full((10, 10, 3), 200, np.uint8)
    out = warp_affine(img, np.array([[1.0, 0, 50], [0, 1.0, 50]]), (8, 8))
    assert not out.any()


def test_aligned_landmarks_land_on_the_canonical_points():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    m_true = similarity(2.1, 0.3, 120, 40)
    landmarks = apply_affine(invert_affine(m_true), CANONICAL_POINTS)   # a face placed by m_true^-1
    face, m = align_face(img, landmarks)
    assert face.shape == (112, 112, 3) and face.dtype == np.float32
    np.testing.assert_allclose(apply_affine(m, landmarks), CANONICAL_POINTS, atol=1e-9)
    np.testing.assert_allclose(m, m_true, atol=1e-9)


def test_crop_matrix_maps_the_box_onto_the_output():
    m = box_to_crop_matrix((10, 20, 50, 100), (112, 112), expand=1.0)
    np.testing.assert_allclose(apply_affine(m, [[10, 20], [50, 100]]), [[0, 0], [112, 112]])
    m = box_to_crop_matrix((10, 20, 50, 100), (112, 112), expand=2.0)
    np.testing.assert_allclose(apply_affine(m, [[30, 60], [50, 100]]), [[56, 56], [84, 84]])
