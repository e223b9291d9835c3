"""The `sura` command as a user runs it: text, JSON, bad files and exit codes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from configs.settings import get_settings
from serving.cli.main import cli


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


def test_faces_prints_every_face(faces_dir: Path) -> None:
    code, out, _ = _run("faces", str(faces_dir / "scenes" / "t1.jpg"), "--pack", "shared-scrfd")
    assert code == 0
    assert "6 face(s)" in out and out.count(" score ") == 6


def test_faces_json_with_embeddings(faces_dir: Path) -> None:
    code, out, _ = _run("faces", str(faces_dir / "scenes" / "t1.jpg"), "--json", "--embeddings")
    assert code == 0
    document = json.loads(out)
    assert document["pack"] == "dlib"
    [image] = document["images"]
    assert (image["width"], image["height"], len(image["faces"])) == (1280, 886, 6)
    face = image["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and len(face["embedding"]) == 128


def test_bad_files_are_reported_and_the_rest_still_analysed(faces_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    photo = faces_dir / "scenes" / "fr_two_people.jpg"
    code, out, err = _run(
        "faces", str(empty), str(photo), str(text), str(tmp_path / "absent.jpg"), "--pack", "shared-yunet", "--json"
    )
    assert code == 1
    images = json.loads(out)["images"]
    assert [("error" in i) for i in images] == [True, False, True, True]
    assert "empty" in images[0]["error"] and "not an image" in images[2]["error"]
    assert "cannot read the file" in images[3]["error"]
    assert len(images[1]["faces"]) == 2
    assert "3 of 4 image(s) could not be read" in err


def test_tight_crop_is_reported(faces_dir: Path) -> None:
    code, out, _ = _run("faces", str(faces_dir / "scenes" / "Tom_Hanks_54745.png"), "--pack", "shared-scrfd")
    assert code == 0 and "1 face(s)" in out and "after padding" in out


def test_unknown_pack_is_a_clear_error(faces_dir: Path) -> None:
    code, _, err = _run("faces", str(faces_dir / "scenes" / "t1.jpg"), "--pack", "nope")
    assert code == 1 and "no model pack named 'nope'" in err


def test_packs_lists_names() -> None:
    code, out, _ = _run("packs")
    assert code == 0 and out.split()[:2] == ["dlib", "shared-scrfd"]


@pytest.mark.slow
@pytest.mark.parametrize("pack", ["dlib", "shared-scrfd"])
def test_eval_on_people(faces_dir: Path, pack: str) -> None:
    code, out, _ = _run("eval", str(faces_dir / "people"), "--pack", pack, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["identities"] == 17 and report["images"] == 80 and report["images_without_face"] == 0
    assert report["rank1"] == 1.0
    assert report["auc"] >= 0.999
    assert set(report["tar_at_far"]) == {"0.1", "0.01", "0.001"}
    assert report["images_per_s"] > 0 and report["faces_per_s"] >= report["images_per_s"]


def test_eval_needs_identity_folders(tmp_path: Path) -> None:
    code, _, err = _run("eval", str(tmp_path))
    assert code == 1 and "no identity sub-folders" in err


def test_serve_on_a_busy_port_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code != 0 and "in use" in result.output
    assert time.monotonic() - started < 5
