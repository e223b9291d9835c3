"""`sura calibrate` and the extended `sura eval`: main faces, impostors, pair lists, plots, held-out FARs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from configs.settings import get_settings
from models.manifest import load_manifest
from models.registry import PACKS_FOLDER
from pipeline.calibration import Calibration
from serving.cli.calibrate import calibration_table, replace_calibration
from serving.cli.labelled import ERRATA, labelled_set, read_leave_out
from serving.cli.main import cli
from tests.helpers import SHARED


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("SURA_MODELS__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SURA_MODELS__ALLOW_DOWNLOAD", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _subset(tmp_path: Path, identities: int, singles: int) -> tuple[Path, Path]:
    """Links to the first identities of lfw and the first lfw_singles (never copies)."""
    calibration = SHARED / "calibration"
    if not (calibration / "lfw").is_dir() or not (SHARED / "models").is_dir():
        pytest.skip(f"calibration photos or models not found under {SHARED}")
    for folder, count in (("lfw", identities), ("lfw_singles", singles)):
        (tmp_path / folder).mkdir()
        for person in sorted((calibration / folder).iterdir())[:count]:
            (tmp_path / folder / person.name).symlink_to(person)
    return tmp_path / "lfw", tmp_path / "lfw_singles"


def test_the_calibration_table_replaces_only_its_own_section(tmp_path: Path, shared: Path) -> None:
    manifest = tmp_path / "pack.toml"
    original = (PACKS_FOLDER / "shared-scrfd.toml").read_text(encoding="utf-8")
    manifest.write_text(original.replace('root = "../../../shared/models"', f'root = "{shared / "models"}"'))
    before = manifest.read_text().split("[calibration]")[0]
    calibration = Calibration(
        points=((1e-1, 0.2), (1e-5, 0.61)),
        source='measured on "x"',
        operating_far=1e-4,
        centroid=((2, ((1e-1, 0.3), (1e-5, 0.7))), (3, ((1e-1, 0.32), (1e-5, 0.72)))),
    )
    replace_calibration(manifest, calibration_table(calibration))
    assert manifest.read_text().split("[calibration]")[0] == before
    assert load_manifest(manifest).calibration == calibration


def test_write_needs_a_manifest(faces_dir: Path) -> None:
    people = str(faces_dir / "people")
    code, _, err = _run("calibrate", "dlib", "--data", people, "--impostors", people, "--write")
    assert code == 1 and "defined in code" in err


@pytest.mark.slow
def test_eval_counts_the_main_face_with_impostors_pairs_and_plots(faces_dir: Path, tmp_path: Path) -> None:
    people = faces_dir / "people"
    photos = sorted(p for p in (people / sorted(os.listdir(people))[0]).iterdir())
    other = sorted(p for p in (people / sorted(os.listdir(people))[1]).iterdir())
    pairs = tmp_path / "pairs.tsv"
    rows = [("1", photos[0], photos[1])] + [("0", a, b) for a in photos[:2] for b in other[:5]]
    pairs.write_text(
        "# eleven pairs\npair\tsame\timg0\timg1\n"
        + "".join(
            f"{k}\t{s}\t{os.path.relpath(a, tmp_path)}\t{os.path.relpath(b, tmp_path)}\n"
            for k, (s, a, b) in enumerate(rows)
        )
    )
    impostors = tmp_path / "impostors"
    impostors.mkdir()
    (impostors / "someone.jpg").symlink_to(other[0])
    code, out, _ = _run(
        "eval",
        str(people),
        "--impostors",
        str(impostors),
        "--pairs",
        str(pairs),
        "--plots",
        str(tmp_path / "plots"),
        "--pack",
        "shared-scrfd",
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["images"] == 80 and report["impostor_images"] == 1 and report["gallery"] == 18
    assert report["faces_left_out"] == report["faces"] - 81 > 0, "bystanders are not the folder's identity"
    assert report["pairs"]["genuine_pairs"] == 1 and report["pairs"]["impostor_pairs"] == 10
    assert set(report["pairs"]["tar_at_far"]) == {"0.1"}
    point = report["operating_point"]
    assert point["far"] == 1e-3 and 0 <= point["observed_far"] < 0.01 and point["tar"] > 0.9
    assert [row["gallery_faces"] for row in report["one_to_many"]] == [1_000, 10_000, 100_000]
    charts = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert charts == sorted(
        f"{n}-{k}.png" for n in ("shared-scrfd", "shared-scrfd-pairs") for k in ("det", "roc", "scores")
    )
    assert Image.open(tmp_path / "plots" / "shared-scrfd-roc.png").size == (760, 520)


@pytest.mark.slow
def test_calibrated_far_holds_on_identities_it_was_not_fitted_on(tmp_path: Path) -> None:
    """400 identities (~1,500 photos) + 400 singles: ~1.8 M impostor pairs, ~450 k in each half."""
    lfw, singles = _subset(tmp_path, 400, 400)
    code, out, _ = _run("calibrate", "shared-scrfd", "--data", str(lfw), "--impostors", str(singles), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["impostor_pairs"] > 1_000_000 and set(report["thresholds"]) >= {"0.001", "0.0001", "1e-05"}
    thresholds = list(report["thresholds"].values())
    assert thresholds == sorted(thresholds)
    observed = report["held_out"]["observed_far"]["0.0001"]
    assert 0.5e-4 <= observed <= 2e-4, f"FAR fitted at 1e-4 on one half is {observed:.1e} on the other"
    assert "[calibration]" in report["table"] and "1e-4" in report["table"]
    for photos in ("2", "3"):  # a face against the mean of a case's photos: its own table, checked the same way
        centroid = report["centroid"][photos]
        assert centroid["impostor_scores"] > 250_000 and f"centroid_{photos} = [[1e-1," in report["table"]
        assert 0.4e-4 <= centroid["held_out"]["observed_far"]["0.0001"] <= 2.5e-4
    rows = report["one_to_many"]  # the service's default point keeps 0.1 wrong cases per search as galleries grow
    assert [row["gallery_faces"] for row in rows] == [1_000, 10_000, 100_000]
    assert [row["far"] for row in rows] == pytest.approx([1e-4, 1e-5, 1e-6])
    assert all(0 < row["wrong_per_search"] <= 0.1 + 1e-9 for row in rows)
    assert rows[0]["tar"] >= rows[1]["tar"] >= rows[2]["tar"] > 0.5


def test_mislabelled_photos_are_analysed_but_not_counted(tmp_path: Path) -> None:
    for name in ("people/ann/ann_1.jpg", "people/ann/ann_2.jpg", "people/bob/bob_1.jpg", "singles/cy/cy_1.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    listed = tmp_path / "errata.txt"
    listed.write_text("# wrong names\nann/ann_2.jpg   # someone else\ncy/cy_1.jpg\n")
    found = labelled_set(tmp_path / "people", tmp_path / "singles", read_leave_out(listed))
    assert [p.name for p in found.paths] == ["ann_1.jpg", "ann_2.jpg", "bob_1.jpg", "cy_1.jpg"]
    assert found.left_out.tolist() == [False, True, False, True]


def test_the_errata_name_photos_of_the_calibration_set() -> None:
    calibration = SHARED / "calibration"
    if not (calibration / "lfw").is_dir():
        pytest.skip(f"calibration photos not found under {calibration}")
    names = read_leave_out(ERRATA)
    assert len(names) >= 5
    assert all((calibration / "lfw" / n).is_file() or (calibration / "lfw_singles" / n).is_file() for n in names)
