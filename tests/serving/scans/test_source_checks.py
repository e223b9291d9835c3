"""Scan sources the API may start: every place normalised and checked, list files and links included."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

import pytest

from configs.faces import ModelSettings, PipelineSettings
from configs.settings import ScanSettings
from serving.errors import PermissionDeniedError
from serving.scans.scanner import Scanner
from serving.scans.sources import SourceError, SourceItem, list_source, read_items
from serving.services.scans import ScanRequest, check_api_source
from storage.errors import InvalidArgumentError
from storage.tables import Job


@pytest.fixture()
def allowed(tmp_path: Path) -> Path:
    root = tmp_path / "intake"
    (root / "batch").mkdir(parents=True)
    (root / "batch" / "a.jpg").write_bytes(b"a")
    return root


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "passwords.jpg").write_bytes(b"secret")
    (secret / "other.jpg").write_bytes(b"also secret")
    return secret


def test_a_file_uri_is_compared_as_a_resolved_path(allowed: Path, outside: Path) -> None:
    roots = [f"file://{allowed}"]
    assert check_api_source(f"file://{allowed}/batch", roots) == f"file://{allowed}/batch"
    for escape in (f"file://{allowed}/../elsewhere", f"file://{allowed}/batch/../../elsewhere"):
        with pytest.raises(PermissionDeniedError):
            check_api_source(escape, roots)
    with pytest.raises(PermissionDeniedError):  # a local root allows the same folder as a URI, nothing beyond
        check_api_source(f"file://{allowed}/%2e%2e/elsewhere", [str(allowed)])


@pytest.mark.parametrize(
    "uri",
    [
        "s3://partner/intake/x?endpoint_override=attacker.example:9000",
        "s3://partner/intake/x?scheme=http",
        "s3://partner/intake/x#fragment",
        "s3://key:secret@partner/intake/x",
        "s3://partner/intake/../other",
        "s3://partner/intake/%2E%2E/other",
    ],
)
def test_uris_that_redirect_the_store_or_climb_out_are_refused(uri: str) -> None:
    with pytest.raises((PermissionDeniedError, InvalidArgumentError)):
        check_api_source(uri, ["s3://partner/intake"])


def test_a_plain_prefix_uri_still_passes() -> None:
    assert check_api_source("s3://partner/intake/2024/", ["s3://partner/intake"]) == "s3://partner/intake/2024"


def test_every_place_a_list_file_names_is_checked(allowed: Path, outside: Path) -> None:
    listing = allowed / "files.txt"
    listing.write_text(f"{allowed / 'batch' / 'a.jpg'}\n{outside}\n")
    roots = [str(allowed)]
    assert check_api_source(str(listing), roots) == str(listing)  # the list itself lies inside
    with pytest.raises(SourceError, match="line 2") as refused:
        list_source(str(listing), allowed=roots)
    assert "passwords" not in str(refused.value) and str(outside) not in str(refused.value)
    listing.write_text(f"{allowed / 'batch'}\n")
    assert [item.key for item in list_source(str(listing), allowed=roots)] == ["a.jpg"]


def test_a_list_file_that_names_itself_does_not_loop(allowed: Path) -> None:
    listing = allowed / "loop.txt"
    listing.write_text(f"{listing}\n")
    with pytest.raises(SourceError, match="nested"):
        list_source(str(listing), allowed=[str(allowed)])


def test_links_out_of_an_allowed_folder_are_not_followed(allowed: Path, outside: Path) -> None:
    (allowed / "batch" / "link.jpg").symlink_to(outside / "passwords.jpg")
    (allowed / "batch" / "linked-dir").symlink_to(outside, target_is_directory=True)
    keys = [item.key for item in list_source(str(allowed), allowed=[str(allowed)])]
    assert keys == ["batch/a.jpg"]


def test_a_scan_job_from_the_api_checks_its_list_file_when_it_runs(allowed: Path, outside: Path) -> None:
    listing = allowed / "later.txt"
    listing.write_text(f"{allowed / 'batch'}\n")
    request = ScanRequest(source=check_api_source(str(listing), [str(allowed)]), pack="shared-scrfd")
    listing.write_text(f"{outside}\n")  # changed after it was accepted
    job = Job(id=uuid.uuid4(), kind="scan", payload=request.payload(), created_by_id=uuid.uuid4(), attempts=1)
    scanner = Scanner(
        None,  # type: ignore[arg-type]  # refused before the database is used
        photos_dir=allowed,
        models=ModelSettings(pack="shared-scrfd"),
        pipeline=PipelineSettings(),
        scan=ScanSettings(allowed_sources=[str(allowed)]),
    )
    with pytest.raises(SourceError, match="outside"):
        scanner.run(job, lease=__import__("datetime").timedelta(seconds=60))


def test_read_failures_name_no_server_paths(allowed: Path) -> None:
    missing = SourceItem("batch/gone.jpg", str(allowed / "batch" / "gone.jpg"))
    [failure] = read_items([missing], max_bytes=1024)
    assert isinstance(failure, OSError) and str(allowed) not in str(failure)


def test_an_encrypted_zip_member_is_skipped_with_a_reason(tmp_path: Path) -> None:
    bundle = tmp_path / "partner.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("locked.jpg", b"locked bytes")
        archive.writestr("open.jpg", b"open bytes")
    data = bytearray(bundle.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first entry of the central directory: locked.jpg
    data[central + 8] |= 0x01  # its "encrypted" flag, as a password-protected archive sets it
    bundle.write_bytes(bytes(data))
    items = list_source(str(bundle))
    read = dict(zip([i.key for i in items], read_items(items, max_bytes=1024), strict=True))
    assert read["partner.zip!open.jpg"] == b"open bytes"
    locked = read["partner.zip!locked.jpg"]
    assert isinstance(locked, OSError) and "encrypted" in str(locked)
