"""Matching: exact top-k over a gallery, and cases ranked by their best reference face."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from pipeline.gallery import CaseGallery, GalleryFace
from pipeline.match import l2_normalize, search_gallery


def test_search_gallery_returns_best_first() -> None:
    gallery = l2_normalize(np.eye(4, dtype=np.float32) + 0.01)
    found = search_gallery(gallery[[2, 0]], gallery, k=2)
    assert found.index[:, 0].tolist() == [2, 0]
    assert np.all(np.diff(found.similarity, axis=1) <= 0)
    assert search_gallery(gallery[:1], gallery[:0], k=3).index.shape == (1, 0)


def test_gallery_ranks_cases_by_their_best_face() -> None:
    gallery = CaseGallery()
    a, b, c = (uuid.uuid4() for _ in range(3))
    faces = [uuid.uuid4() for _ in range(4)]
    gallery.add(GalleryFace(faces[0], a, np.array([1.0, 0.0, 0.0], np.float32)))
    gallery.add(GalleryFace(faces[1], a, np.array([0.0, 1.0, 0.0], np.float32)))
    gallery.add(GalleryFace(faces[2], b, np.array([0.8, 0.6, 0.0], np.float32)))
    gallery.add(GalleryFace(faces[3], c, np.array([0.0, 0.0, 1.0], np.float32)))
    [hits] = gallery.search(np.array([[0.0, 1.0, 0.0]], np.float32), k=2)
    assert [(case, face) for case, _, face in hits] == [(a, faces[1]), (b, faces[2])]
    assert hits[0][1] == pytest.approx(1.0) and hits[1][1] == pytest.approx(0.6)
    gallery.remove_case(a)
    gallery.remove_face(faces[3])
    assert [case for case, _, _ in gallery.search(np.array([[0.0, 1.0, 0.0]], np.float32), k=5)[0]] == [b]
    assert gallery.cases() == 1
