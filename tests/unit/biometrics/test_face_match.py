"""Face match on real photos (fetched from PyPI packages): genuine and impostor pairs with
capture-like augmentations, quality reasons, and the selfie step's outcome."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idproof.verification.biometrics.analysis import FaceAnalyzer, StillAnalysis, distance
from idproof.verification.biometrics.imaging import decode_upload
from idproof.verification.biometrics.service import selfie_outcome
from idproof.verification.decision import StepState
from idproof.workflows.catalog import get_workflow
from tests.biometrics_data import PERSON, augment, jpeg_bytes, load, variants

THRESHOLD = get_workflow("kyc_standard").face.match_threshold  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def embeddings(face_dir: Path, analyzer: FaceAnalyzer) -> dict[tuple[str, str], np.ndarray]:
    out = {}
    for name, aug in variants():
        # Through the upload path: checked, re-encoded, decoded in memory.
        pixels = decode_upload(jpeg_bytes(augment(load(name, face_dir), aug)))
        a = analyzer.analyze_still(pixels)
        assert a.usable, (name, aug, a.reasons)
        assert a.embedding is not None
        out[(name, aug)] = a.embedding
    return out


def test_same_person_pairs_match(embeddings: dict[tuple[str, str], np.ndarray]) -> None:
    checked = 0
    for a, b in itertools.combinations([k for k in embeddings if PERSON[k[0]] == "obama"], 2):
        if a[0] != b[0]:  # different photos of one person
            d = distance(embeddings[a], embeddings[b])
            assert d <= THRESHOLD, (a, b, d)
            checked += 1
    assert checked > 200


def test_different_people_do_not_match(embeddings: dict[tuple[str, str], np.ndarray]) -> None:
    people = sorted(set(PERSON.values()))
    checked = 0
    for (na, aa), (nb, ab) in itertools.combinations(embeddings, 2):
        if PERSON[na] != PERSON[nb]:
            d = distance(embeddings[(na, aa)], embeddings[(nb, ab)])
            assert d > THRESHOLD, (na, aa, nb, ab, d)
            checked += 1
    assert len(people) == 4 and checked >= 800


def test_selfie_outcome_passes_and_fails_on_real_embeddings(
        embeddings: dict[tuple[str, str], np.ndarray]) -> None:
    doc = StillAnalysis(embeddings[("obama.jpg", "none")], ())
    same = StillAnalysis(embeddings[("obama2.jpg", "jpeg")], ())
    other = StillAnalysis(embeddings[("biden.jpg", "none")], ())
    ok = selfie_outcome(same, doc, THRESHOLD, retry_allowed=True)
    assert ok.state == StepState.PASSED and ok.face_match is True and ok.reasons == ()
    bad = selfie_outcome(other, doc, THRESHOLD, retry_allowed=True)
    assert bad.state == StepState.FAILED and bad.face_match is False
    assert bad.reasons == ("face_mismatch",)


def _analyze(analyzer: FaceAnalyzer, img: Image.Image) -> StillAnalysis:
    return analyzer.analyze_still(decode_upload(jpeg_bytes(img)), with_pad=True)


def test_no_face(analyzer: FaceAnalyzer) -> None:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    result = _analyze(analyzer, noise)
    assert result.reasons == ("no_face",) and result.embedding is None
    out = selfie_outcome(result, result, THRESHOLD, retry_allowed=True)
    assert out.state == StepState.RETRY and out.reasons == ("no_face",)
    last = selfie_outcome(result, result, THRESHOLD, retry_allowed=False)
    assert last.state == StepState.FAILED and last.face_match is False


def test_multiple_faces(analyzer: FaceAnalyzer, face_dir: Path) -> None:
    result = _analyze(analyzer, load("group_t1.jpg", face_dir))
    assert result.reasons == ("multiple_faces",)


def test_face_too_small(analyzer: FaceAnalyzer, face_dir: Path) -> None:
    face = load("obama.jpg", face_dir)
    width = analyzer.detector.detect(np.asarray(face))[0].box.width
    # The face at about 45 pixels wide (minimum 60) on a 1024 x 768 selfie.
    k = 45 / width
    canvas = Image.new("RGB", (1024, 768), (120, 130, 140))
    canvas.paste(face.resize((round(face.width * k), round(face.height * k))), (400, 300))
    result = _analyze(analyzer, canvas)
    assert result.reasons == ("face_too_small",)
    assert 35 <= result.measures["face_px"] < 60


def test_low_quality_when_too_dark(analyzer: FaceAnalyzer, face_dir: Path) -> None:
    dark = augment(load("obama2.jpg", face_dir), "none").point(lambda v: v // 8)
    result = _analyze(analyzer, dark)
    assert result.reasons in {("low_quality",), ("no_face",)}
    dim = load("obama2.jpg", face_dir).point(lambda v: v // 5)
    assert _analyze(analyzer, dim).reasons == ("low_quality",)


def test_a_suspected_presentation_attack_is_a_reason_even_when_faces_match(
        embeddings: dict[tuple[str, str], np.ndarray]) -> None:
    from idproof.verification.biometrics.protocols import PadScore

    doc = StillAnalysis(embeddings[("obama.jpg", "none")], ())
    screen = StillAnalysis(embeddings[("obama2.jpg", "none")], (),
                           pad=PadScore(80.0, True, {"spectral_peak_ratio": 80.0}))
    out = selfie_outcome(screen, doc, THRESHOLD, retry_allowed=True)
    assert out.state == StepState.PASSED and out.face_match is True
    assert out.reasons == ("presentation_attack_suspected",)  # review, not approval


def test_documents_may_carry_a_second_ghost_portrait(analyzer: FaceAnalyzer,
                                                     face_dir: Path) -> None:
    face = load("obama2.jpg", face_dir).resize((300, 575))
    page = Image.new("RGB", (900, 640), (235, 230, 220))
    page.paste(face, (40, 30))
    page.paste(face.resize((200, 383)), (600, 200))  # the ghost image, two thirds the size
    pixels = decode_upload(jpeg_bytes(page))
    assert analyzer.analyze_still(pixels).reasons == ("multiple_faces",)  # as a selfie
    as_document = analyzer.analyze_still(pixels, single_face=False)
    assert as_document.usable  # the largest portrait is used
