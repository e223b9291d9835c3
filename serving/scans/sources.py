"""What a scan reads: every file of a folder, archive, list file or object-store prefix.

A source becomes a flat list of ``SourceItem``s, each naming one file by a stable key
("folder/a.jpg", "intake.zip!2024/b.jpg"). Zip and tar archives found in a local folder are
opened too. A URI (``s3://…``, ``gs://…``, ``file://…``) is listed and read with pyarrow's
filesystems, recursively, its files as they are. Items are read later, in Ray tasks, a batch
at a time (an archive is opened once per batch).

Scans the API starts are confined to the configured places (``allowed``): every place is
normalised before it is compared (local paths and ``file://`` URIs resolved, so ``..`` and links
cannot climb out; other URIs refused with a query, fragment, credentials or dot segments, which
could redirect pyarrow to another store), and checked again as it is listed — each line of a
list file, each file of a folder. Failures name the line or the key, never what lies outside.
"""

from __future__ import annotations

import logging
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pyarrow.fs as pafs

logger = logging.getLogger(__name__)

ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
LISTS = (".txt", ".lst", ".list")
NESTED_LISTS = 3  # a list file may name list files, this deep
_READ_ERRORS = (
    OSError, KeyError, RuntimeError, NotImplementedError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError
)  # fmt: skip


class SourceError(Exception):
    """Raised when a scan source does not exist or cannot be listed."""


@dataclass(frozen=True)
class SourceItem:
    """One file: ``location`` is a path or URI; ``member`` a path inside the archive at ``location``."""

    key: str
    location: str
    member: str | None = None


class ReadRefusedError(OSError):
    """Raised when a file is not read on purpose (too large, an encrypted archive member); the message says why."""


def list_source(source: str, *, allowed: Sequence[str] | None = None) -> list[SourceItem]:
    """Every file ``source`` holds, in a stable order.

    With ``allowed`` (folders and URI prefixes) the source and every place it expands to must
    lie inside them: a list file naming a place outside fails the listing (by line number), and
    a folder's files are kept only where their resolved path lies inside (links out are dropped).
    """
    return _listing(source, None if allowed is None else list(allowed), nested=0)


def normalise_place(source: str) -> str:
    """A place compared by what it names: local paths and ``file://`` paths resolved, other URIs checked.

    URIs may not carry a query (pyarrow reads ``?endpoint_override=`` and the like from it), a
    fragment, credentials or ``.``/``..`` segments (encoded or not): SourceError.
    """
    if "://" not in source:
        return str(Path(source).expanduser().resolve())
    parts = urlsplit(source)
    if parts.query or parts.fragment or "?" in source or "#" in source:
        raise SourceError("a scan URI may not carry a query or fragment (they can point the reader elsewhere)")
    if "@" in parts.netloc:
        raise SourceError("a scan URI may not carry credentials")
    path = unquote(parts.path)
    if parts.scheme == "file":
        return f"file://{Path(path).resolve()}"
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments) or not parts.scheme or not parts.netloc:
        raise SourceError("a scan URI must name a bucket and a path without . or .. segments")
    return f"{parts.scheme}://{parts.netloc}" + "".join(f"/{segment}" for segment in segments)


def within(place: str, allowed: Sequence[str]) -> bool:
    """Whether the normalised ``place`` lies at or under one of the ``allowed`` folders or URI prefixes."""
    local = _local_path(place)
    for root in allowed:
        try:
            normal = normalise_place(root)
        except SourceError:
            continue
        root_path = _local_path(normal)
        if local is not None and root_path is not None:
            if local.is_relative_to(root_path):
                return True
        elif local is None and root_path is None and _uri_under(place, normal):
            return True
    return False


def read_items(items: Sequence[SourceItem], *, max_bytes: int) -> list[bytes | OSError]:
    """The bytes of each item, or the error that kept it from being read (files over ``max_bytes`` are not)."""
    results: list[bytes | OSError] = []
    open_archives: dict[str, zipfile.ZipFile | tarfile.TarFile] = {}
    try:
        for item in items:
            try:
                results.append(_read(item, open_archives, max_bytes))
            except _READ_ERRORS as exc:
                results.append(_read_failure(exc))
    finally:
        for archive in open_archives.values():
            archive.close()
    return results


def _listing(source: str, allowed: list[str] | None, *, nested: int) -> list[SourceItem]:
    if allowed is not None:
        source = normalise_place(source)
        if not within(source, allowed):
            raise SourceError("the place lies outside the folders and prefixes this server may scan")
    if "://" in source:
        return list(_object_store(source))
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if allowed is not None:
            inside = [file for file in files if within(str(file.resolve()), allowed)]
            if len(inside) < len(files):
                logger.warning(
                    "scan listing: %d links out of the allowed places not followed", len(files) - len(inside)
                )
            files = inside
        return [item for file in files for item in _file(file, path)]
    if path.is_file():
        if path.name.lower().endswith(LISTS):
            return _listed(path, allowed, nested=nested)
        return list(_file(path, path.parent))
    raise SourceError(f"no such folder, archive, list or file: {source}")


def _listed(path: Path, allowed: list[str] | None, *, nested: int) -> list[SourceItem]:
    """The items of every place a list file names; a line that cannot be listed fails it, by its number."""
    if nested >= NESTED_LISTS:
        raise SourceError(f"list files are nested more than {NESTED_LISTS} deep")
    items: list[SourceItem] = []
    for number, line in _lines(path):
        try:
            items.extend(_listing(line, allowed, nested=nested + 1))
        except SourceError as exc:
            raise SourceError(f"line {number} of {path.name}: {exc}") from None
    return items


def _local_path(place: str) -> Path | None:
    if "://" not in place:
        return Path(place)
    return Path(place.removeprefix("file://")) if place.startswith("file://") else None


def _uri_under(place: str, root: str) -> bool:
    scheme, _, rest = place.partition("://")
    root_scheme, _, root_rest = root.partition("://")
    return scheme == root_scheme and PurePosixPath(rest).is_relative_to(PurePosixPath(root_rest))


def _read_failure(exc: BaseException) -> OSError:
    """What kept a file from being read, without the server's paths (an OS error names the file it failed on)."""
    if isinstance(exc, ReadRefusedError):
        return exc
    if isinstance(exc, OSError):
        return OSError(exc.strerror or type(exc).__name__)
    if isinstance(exc, KeyError):
        return OSError("the archive has no such member")
    return OSError(f"the archive cannot be read ({type(exc).__name__})")


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
        info = archive.getinfo(item.member)
        if info.flag_bits & 0x1:
            raise ReadRefusedError("the archive member is encrypted (password-protected); it was skipped")
        _check_size(info.file_size, max_bytes)
        return archive.read(item.member)
    member = archive.getmember(item.member)
    _check_size(member.size, max_bytes)
    extracted = archive.extractfile(member)
    if extracted is None:
        raise ReadRefusedError("the archive member is not a regular file")
    return extracted.read()


def _check_size(size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise ReadRefusedError(f"the file has {size} bytes, over the limit of {max_bytes}")


def _object_store(uri: str) -> Iterator[SourceItem]:
    try:
        filesystem, path = pafs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.File:
            files = [info]
        else:
            files = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        reason = (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__
        raise SourceError(f"cannot list {uri}: {reason}") from exc
    scheme = uri.split("://", 1)[0]
    for file in sorted((f for f in files if f.type == pafs.FileType.File), key=lambda f: f.path):
        yield SourceItem(
            key=file.path.removeprefix(path).lstrip("/") or file.base_name, location=f"{scheme}://{file.path}"
        )


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, place) for every line naming a place (not blank, not a # comment)."""
    lines = enumerate(path.read_text().splitlines(), start=1)
    return [(number, line.strip()) for number, line in lines if line.strip() and not line.startswith("#")]
