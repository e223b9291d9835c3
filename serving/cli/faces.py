"""`sura faces`: every face of some photos, as text or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from configs.settings import get_settings
from pipeline.stream import FileResult, analyse_files
from pipeline.types import Face
from serving.cli.common import engine_options, load


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--embeddings", is_flag=True, help="Include each face's embedding vector.")
def faces(
    images: tuple[Path, ...],
    pack_name: str | None,
    backend: str | None,
    device: str | None,
    as_json: bool,
    embeddings: bool,
) -> None:
    """Find, align and embed every face in IMAGES."""
    loaded = load(pack_name, backend, device)
    limits = get_settings().pipeline
    results = list(
        analyse_files(
            loaded.engine,
            list(images),
            embed=True,
            workers=limits.decode_workers,
            max_bytes=limits.max_bytes,
            max_pixels=limits.max_pixels,
        )
    )
    if as_json:
        document = {"pack": loaded.pack.name, "images": [_image_json(r, embeddings) for r in results]}
        click.echo(json.dumps(document, indent=2))
    else:
        for result in results:
            _print_text(result, embeddings)
    failed = [r for r in results if r.error]
    if failed:
        click.echo(f"error: {len(failed)} of {len(results)} image(s) could not be read", err=True)
        sys.exit(1)


def _image_json(result: FileResult, embeddings: bool) -> dict[str, Any]:
    if result.error or result.faces is None or result.image is None:
        return {"path": str(result.path), "error": result.error}
    return {
        "path": str(result.path),
        "width": result.faces.width,
        "height": result.faces.height,
        "format": result.image.format,
        "notes": list(result.image.notes) + _retry_note(result),
        "padded_retry": result.faces.padded_retry,
        "faces": [_face_json(face, embeddings) for face in result.faces.faces],
    }


def _face_json(face: Face, embeddings: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "box": [round(float(v), 1) for v in face.box],
        "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
        "score": round(face.score, 4),
        "quality": round(face.quality, 4),
        "sharpness": round(face.sharpness, 1),
    }
    if embeddings and face.embedding is not None:
        data["embedding"] = [round(float(v), 6) for v in face.embedding]
    return data


def _retry_note(result: FileResult) -> list[str]:
    if result.faces is not None and result.faces.padded_retry:
        return ["no face at first: found after padding the image (tight crop or ID-style photo)"]
    return []


def _print_text(result: FileResult, embeddings: bool) -> None:
    if result.error or result.faces is None:
        click.echo(f"{result.path}: error: {result.error}", err=True)
        return
    found = result.faces
    click.echo(f"{result.path}: {found.width}x{found.height}, {len(found.faces)} face(s)")
    for note in (*(result.image.notes if result.image else ()), *_retry_note(result)):
        click.echo(f"  note: {note}")
    for number, face in enumerate(found.faces, start=1):
        x1, y1, x2, y2 = (round(float(v)) for v in face.box)
        points = " ".join(f"({x:.0f},{y:.0f})" for x, y in face.landmarks)
        click.echo(
            f"  #{number} box {x1},{y1}-{x2},{y2} score {face.score:.2f} quality {face.quality:.2f} landmarks {points}"
        )
        if embeddings and face.embedding is not None:
            click.echo("     embedding " + " ".join(f"{v:.4f}" for v in face.embedding))
