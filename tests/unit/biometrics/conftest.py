"""Fixtures for the biometrics tests: the face photos (fetched once) and one face engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from idproof.verification.biometrics.analysis import FaceAnalyzer
from idproof.verification.biometrics.engines import DlibFaceEngine
from idproof.verification.biometrics.pad import FrequencyPAD
from tests.biometrics_data import fetch


@pytest.fixture(scope="session")
def face_dir() -> Path:
    return fetch()


@pytest.fixture(scope="session")
def analyzer() -> FaceAnalyzer:
    engine = DlibFaceEngine()
    return FaceAnalyzer(engine, engine, FrequencyPAD())
