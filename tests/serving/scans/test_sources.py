"""What a scan reads: folders with archives inside, archives, list files and URIs, and bad files."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from serving.scans.sources import SourceError, SourceItem, list_source, read_items

LIMIT = 2**20


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    (root / "a" / "b").mkdir(parents=True)
    (root / "top.jpg").write_bytes(b"top")
    (root / "a" / "b" / "deep.jpg").write_bytes(b"deep")
    with zipfile.ZipFile(root / "a" / "partner.zip", "w") as bundle:
        bundle.writestr("x/one.jpg", b"one")
        bundle.writestr("two.jpg", b"two")
        bundle.writestr("empty-dir/", b"")
    with tarfile.open(root / "intake.tar.gz", "w:gz") as bundle:
        info = tarfile.TarInfo("three.jpg")
        info.size = 5
        bundle.addfile(info, io.BytesIO(b"three"))
    (root / "broken.zip").write_bytes(b"not a zip at all")
    return root


def _read(items: list[SourceItem], limit: int = LIMIT) -> dict[str, bytes | str]:
    return {
        item.key: data if isinstance(data, bytes) else f"error: {data}"
        for item, data in zip(items, read_items(items, max_bytes=limit), strict=True)
    }


def test_a_folder_lists_every_file_with_archives_opened(folder: Path) -> None:
    items = list_source(str(folder))
    assert [item.key for item in items] == [
        "a/b/deep.jpg",
        "a/partner.zip!two.jpg",
        "a/partner.zip!x/one.jpg",
        "broken.zip",
        "intake.tar.gz!three.jpg",
        "top.jpg",
    ]
    read = _read(items)
    assert read["a/partner.zip!x/one.jpg"] == b"one"
    assert read["intake.tar.gz!three.jpg"] == b"three"
    assert read["top.jpg"] == b"top"
    assert read["broken.zip"] == b"not a zip at all"  # an unreadable archive is one (bad) file


def test_an_archive_a_list_file_and_a_file_uri(folder: Path, tmp_path: Path) -> None:
    assert [i.key for i in list_source(str(folder / "a" / "partner.zip"))] == [
        "partner.zip!two.jpg",
        "partner.zip!x/one.jpg",
    ]
    listing = tmp_path / "files.txt"
    listing.write_text(f"# the intake\n{folder / 'top.jpg'}\n\n{folder / 'intake.tar.gz'}\n")
    assert [i.key for i in list_source(str(listing))] == ["top.jpg", "intake.tar.gz!three.jpg"]
    by_uri = list_source(f"file://{folder / 'a'}")
    assert [i.key for i in by_uri] == ["b/deep.jpg", "partner.zip"]  # URIs are read as they are
    assert _read(by_uri)["b/deep.jpg"] == b"deep"


def test_missing_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such"):
        list_source(str(tmp_path / "nowhere"))
    with pytest.raises(SourceError, match="cannot list"):
        list_source(f"file://{tmp_path / 'nowhere'}")


def test_files_that_vanish_or_are_too_large_are_errors_not_crashes(folder: Path) -> None:
    items = list_source(str(folder))
    (folder / "top.jpg").unlink()
    read = _read(items, limit=4)
    assert str(read["top.jpg"]).startswith("error:")
    assert "over the limit" in str(read["intake.tar.gz!three.jpg"])
    assert read["a/partner.zip!two.jpg"] == b"two"
    missing = SourceItem("gone", str(folder / "a" / "partner.zip"), "not-there.jpg")
    assert isinstance(read_items([missing], max_bytes=LIMIT)[0], OSError)
