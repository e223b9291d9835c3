"""Shared fixtures: the photos and models beside the project, engines loaded once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.registry import PackSources, load_engine, resolve_pack
from pipeline.decode import read_image_file
from pipeline.engine import EngineOptions, FaceEngine
from tests.helpers import ALL_PACKS, SHARED

pytest_plugins = ["tests.postgres", "tests.ray_cluster"]

# Tests are marked by the folder (or file) they live in.
FOLDER_MARKERS = {
    "storage": ("postgres",),
    "serving/api": ("ray", "postgres", "slow"),
    "serving/deployments": ("ray", "postgres", "slow"),
    "serving/scans/test_scan.py": ("ray", "postgres", "slow"),
    "serving/scans/test_resume.py": ("ray", "postgres", "slow"),
    "serving/ui": ("ray", "postgres", "slow"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder; GPU tests skip, with the reason, on machines without CUDA."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    root = Path(__file__).parent
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        for folder, markers in FOLDER_MARKERS.items():
            if where == folder or where.startswith(folder + "/"):
                for marker in markers:
                    item.add_marker(marker)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device; none is present"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared beside the project: test photos and ONNX models (never copied in)."""
    if not (SHARED / "faces").is_dir() or not (SHARED / "models").is_dir():
        pytest.skip(f"test data not found at {SHARED} (faces/ and models/)")
    return SHARED


@pytest.fixture(scope="session")
def faces_dir(shared: Path) -> Path:
    return shared / "faces"


@pytest.fixture(scope="session")
def t1(faces_dir: Path) -> np.ndarray:
    """scenes/t1.jpg: six faces."""
    return read_image_file(faces_dir / "scenes" / "t1.jpg").pixels


@pytest.fixture(scope="session")
def engines(shared: Path) -> dict[str, FaceEngine]:
    """One engine per pack, loaded once (onnxruntime on the CPU)."""
    return {name: load_engine(resolve_pack(name, PackSources()), options=EngineOptions()) for name in ALL_PACKS}


@pytest.fixture(scope="session")
def people(faces_dir: Path) -> list[tuple[str, Path]]:
    """(identity, photo) for every photo of people/."""
    return [(d.name, p) for d in sorted((faces_dir / "people").iterdir()) for p in sorted(d.iterdir())]
