"""`sura eval`: identification and verification accuracy of a pack on labelled photos."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from configs.settings import get_settings
from pipeline.evaluate import pair_scores, rank_one, verify
from pipeline.stream import analyse_files, largest_face
from serving.cli.common import engine_options, load

FARS = (1e-1, 1e-2, 1e-3)


@click.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def evaluate(folder: Path, pack_name: str | None, backend: str | None, device: str | None, as_json: bool) -> None:
    """Measure a pack on FOLDER, which holds one sub-folder of photos per identity.

    The first photo (by name) of each identity is the gallery, the rest are probes.
    """
    files = [
        (person.name, path)
        for person in sorted(folder.iterdir())
        if person.is_dir()
        for path in sorted(person.iterdir())
        if path.is_file()
    ]
    if not files:
        raise click.ClickException(f"{folder} has no identity sub-folders with files")
    loaded = load(pack_name, backend, device)
    report = _measure(loaded.engine, files)
    report.update(pack=loaded.pack.name, runtime=loaded.engine.description, load_seconds=round(loaded.load_seconds, 2))
    click.echo(json.dumps(report, indent=2) if as_json else _as_text(report))


def _measure(engine: Any, files: list[tuple[str, Path]]) -> dict[str, Any]:
    limits = get_settings().pipeline
    names = sorted({name for name, _ in files})
    started = time.perf_counter()
    results = list(
        analyse_files(
            engine,
            [path for _, path in files],
            workers=limits.decode_workers,
            max_bytes=limits.max_bytes,
            max_pixels=limits.max_pixels,
        )
    )
    seconds = time.perf_counter() - started
    labels, vectors, gallery, seen = [], [], [], set()
    for (name, _), result in zip(files, results, strict=True):
        chosen = None if result.faces is None else largest_face(result.faces)
        if result.faces is None or chosen is None:
            continue
        labels.append(names.index(name))
        vectors.append(result.faces.faces[chosen].embedding)
        gallery.append(name not in seen)
        seen.add(name)
    label_array = np.asarray(labels, dtype=np.int64)
    embeddings = np.asarray(vectors, dtype=np.float32).reshape(len(labels), -1)
    correct, _ = rank_one(embeddings, label_array, np.asarray(gallery, dtype=bool))
    probes = len(files) - len(seen)  # photos without a usable face count as misses
    metrics = verify(pair_scores(embeddings, label_array), FARS)
    face_count = sum(len(r.faces.faces) for r in results if r.faces is not None)
    return {
        "identities": len(names),
        "images": len(files),
        "unreadable": sum(1 for r in results if r.error),
        "images_without_face": sum(1 for r in results if r.faces is not None and not r.faces.faces),
        "faces": face_count,
        "rank1": correct / probes if probes else None,
        "probes": probes,
        "tar_at_far": {f"{far:g}": metrics.tar[far] for far in FARS},
        "threshold_at_far": {f"{far:g}": round(metrics.thresholds[far], 4) for far in FARS},
        "auc": metrics.auc,
        "best_threshold": round(metrics.best_threshold, 4),
        "best_accuracy": metrics.best_accuracy,
        "seconds": round(seconds, 2),
        "images_per_s": round(len(files) / seconds, 2),
        "faces_per_s": round(face_count / seconds, 2),
    }


def _as_text(report: dict[str, Any]) -> str:
    rank1 = "n/a" if report["rank1"] is None else f"{100 * report['rank1']:.1f} % of {report['probes']} probes"
    lines = [
        f"pack {report['pack']} on {report['runtime']} (loaded in {report['load_seconds']} s)",
        f"identities {report['identities']}, images {report['images']} "
        f"({report['unreadable']} unreadable, {report['images_without_face']} without a face), faces {report['faces']}",
        f"rank-1 identification: {rank1}",
    ]
    for far, tar in report["tar_at_far"].items():
        lines.append(f"TAR at FAR {far}: {100 * tar:.2f} % (threshold {report['threshold_at_far'][far]})")
    lines += [
        f"ROC AUC: {report['auc']:.5f}",
        f"best accuracy {100 * report['best_accuracy']:.2f} % at threshold {report['best_threshold']}",
        f"throughput: {report['images_per_s']} images/s, {report['faces_per_s']} faces/s ({report['seconds']} s)",
    ]
    return "\n".join(lines)
