"""What a scan reads: every file of a folder, archive, list file or object-store prefix.

A source becomes a flat list of ``SourceItem``s, each naming one file by a stable key
("folder/a.jpg", "intake.zip!2024/b.jpg"). Zip and tar archives found in a local folder are
opened too. A URI (``s3://…``, ``gs://…``, ``file://…``) is listed and read with pyarrow's
filesystems, recursively, its files as they are. Items are read later, in Ray tasks, a batch
at a time (an archive is opened once per batch).
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
LISTS = (".txt", ".lst", ".list")


class SourceError(Exception):
    """Raised when a scan source does not exist or cannot be listed."""


@dataclass(frozen=True)
class SourceItem:
    """One file: ``location`` is a path or URI; ``member`` a path inside the archive at ``location``."""

    key: str
    location: str
    member: str | None = None


def list_source(source: str) -> list[SourceItem]:
    """Every file ``source`` holds, in a stable order."""
    if "://" in source:
        return list(_object_store(source))
    path = Path(source).expanduser()
    if path.is_dir():
        return [item for file in sorted(p for p in path.rglob("*") if p.is_file()) for item in _file(file, path)]
    if path.is_file():
        if path.name.lower().endswith(LISTS):
            return [item for line in _lines(path) for item in list_source(line)]
        return list(_file(path, path.parent))
    raise SourceError(f"no such folder, archive, list or file: {source}")


def read_items(items: Sequence[SourceItem], *, max_bytes: int) -> list[bytes | OSError]:
    """The bytes of each item, or the error that kept it from being read (files over ``max_bytes`` are not)."""
    results: list[bytes | OSError] = []
    open_archives: dict[str, zipfile.ZipFile | tarfile.TarFile] = {}
    try:
        for item in items:
            try:
                results.append(_read(item, open_archives, max_bytes))
            except (OSError, KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
                results.append(exc if isinstance(exc, OSError) else OSError(str(exc)))
    finally:
        for archive in open_archives.values():
            archive.close()
    return results


def _file(file: Path, root: Path) -> Iterator[SourceItem]:
    key = file.relative_to(root).as_posix() if file != root else file.name
    if file.name.lower().endswith(ARCHIVES):
        try:
            members = _members(file)
        except (OSError, zipfile.BadZipFile, tarfile.TarError):
            yield SourceItem(key=key, location=str(file))  # an unreadable archive: recorded as one bad file
            return
        for member in members:
            yield SourceItem(key=f"{key}!{member}", location=str(file), member=member)
        return
    yield SourceItem(key=key, location=str(file))


def _members(archive: Path) -> list[str]:
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as bundle:
            return sorted(info.filename for info in bundle.infolist() if not info.is_dir())
    with tarfile.open(archive) as bundle:
        return sorted(member.name for member in bundle.getmembers() if member.isfile())


def _read(item: SourceItem, open_archives: dict[str, zipfile.ZipFile | tarfile.TarFile], max_bytes: int) -> bytes:
    if "://" in item.location:
        filesystem, path = pafs.FileSystem.from_uri(item.location)
        _check_size(filesystem.get_file_info(path).size, max_bytes)
        with filesystem.open_input_stream(path) as stream:
            return stream.read()
    if item.member is None:
        _check_size(Path(item.location).stat().st_size, max_bytes)
        return Path(item.location).read_bytes()
    archive = open_archives.get(item.location)
    if archive is None:
        archive = open_archives[item.location] = (
            zipfile.ZipFile(item.location) if item.location.lower().endswith(".zip") else tarfile.open(item.location)  # noqa: SIM115 - closed by read_items
        )
    if isinstance(archive, zipfile.ZipFile):
        _check_size(archive.getinfo(item.member).file_size, max_bytes)
        return archive.read(item.member)
    member = archive.getmember(item.member)
    _check_size(member.size, max_bytes)
    extracted = archive.extractfile(member)
    if extracted is None:
        raise OSError(f"{item.member} is not a regular file")
    return extracted.read()


def _check_size(size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise OSError(f"the file has {size} bytes, over the limit of {max_bytes}")


def _object_store(uri: str) -> Iterator[SourceItem]:
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.File:
            files = [info]
        else:
            files = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise SourceError(f"cannot list {uri}: {exc}") from exc
    scheme = uri.split("://", 1)[0]
    for file in sorted((f for f in files if f.type == pafs.FileType.File), key=lambda f: f.path):
        yield SourceItem(
            key=file.path.removeprefix(path).lstrip("/") or file.base_name, location=f"{scheme}://{file.path}"
        )


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
