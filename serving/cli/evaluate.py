"""`sura eval`: identification and verification accuracy of a pack on labelled photos or listed pairs.

A photo counts with its main face only (the largest, nearest the centre): a folder names the person
a photo is of, not the bystanders beside them, who are left out and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from configs.faces import MatchingSettings
from configs.settings import get_settings
from pipeline.evaluate import (
    PairScores,
    Verification,
    observed_far,
    one_to_many,
    pair_scores,
    pair_similarity,
    rank_one,
    readable_fars,
    verify,
)
from serving.cli.common import LoadedEngine, engine_options, load
from serving.cli.labelled import (
    LabelledSet,
    PhotoFaces,
    analyse_photos,
    labelled_set,
    leave_out_option,
    read_leave_out,
    read_pairs,
)
from serving.cli.plots import write_charts

FARS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
GALLERY_SIZES = (1_000, 10_000, 100_000)  # one-photo cases, for the 1:N lines
MAX_WRONG = MatchingSettings().max_wrong_per_search


@click.command("eval")
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--impostors",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Photos of other people only (sub-folders or files): more impostor pairs, and gallery distractors.",
)
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Tab-separated pair list with columns same, img0, img1 (paths relative to it), e.g. CACD-VS.",
)
@leave_out_option
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), help="Write ROC, DET and score PNGs here.")
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the faces found here, so measuring the same photos again skips the networks.",
)
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def evaluate(
    folder: Path | None,
    impostors: Path | None,
    pairs_file: Path | None,
    leave_out: Path,
    plots: Path | None,
    cache: Path | None,
    pack_name: str | None,
    backend: str | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Measure a pack on FOLDER (one sub-folder of photos per identity) and/or on a --pairs list.

    The first photo (by name) of each identity is the gallery, the rest are probes.
    """
    if folder is None and pairs_file is None:
        raise click.UsageError("give FOLDER, --pairs FILE, or both")
    data = labelled_set(folder, impostors, read_leave_out(leave_out)) if folder else None
    if folder and (data is None or not data.identities):
        raise click.ClickException(f"{folder} has no identity sub-folders with files")
    loaded = load(pack_name, backend, device)
    report: dict[str, Any] = {}
    if data is not None:
        report.update(_measure_folder(loaded, data, cache, plots))
    if pairs_file is not None:
        report["pairs"] = _measure_pairs(loaded, pairs_file, cache, plots)
    report.update(pack=loaded.pack.name, runtime=loaded.engine.description, load_seconds=round(loaded.load_seconds, 2))
    click.echo(json.dumps(report, indent=2) if as_json else _as_text(report))


def analyse(loaded: LoadedEngine, paths: Sequence[Path], cache: Path | None) -> PhotoFaces:
    """Every face of ``paths`` with the loaded pack, within the pipeline settings' limits."""
    limits = get_settings().pipeline
    return analyse_photos(
        loaded.engine,
        loaded.pack,
        paths,
        cache_dir=cache,
        workers=limits.decode_workers,
        max_bytes=limits.max_bytes,
        max_pixels=limits.max_pixels,
    )


def _measure_folder(loaded: LoadedEngine, data: LabelledSet, cache: Path | None, plots: Path | None) -> dict[str, Any]:
    faces = analyse(loaded, data.paths, cache)
    main = faces.main_faces()
    found = (main >= 0) & ~data.left_out
    embeddings, labels = faces.embeddings[main[found]], data.labels[found]
    # The gallery is each identity's first photo with a face; impostor photos are distractors in it.
    first = np.r_[True, labels[1:] != labels[:-1]] if len(labels) else np.zeros(0, bool)
    correct, _ = rank_one(embeddings, labels, first)
    folder_photos = int(np.sum(~data.impostor & ~data.left_out))
    probes = folder_photos - int(np.sum(first & ~data.impostor[found]))  # photos without a face count as misses
    pairs = pair_scores(embeddings, labels)
    if plots is not None:
        write_charts(plots, loaded.pack.name, pairs, _threshold_lines(loaded))
    return {
        "identities": data.identities,
        "images": folder_photos,
        "impostor_images": int(np.sum(data.impostor & ~data.left_out)),
        "left_out": int(data.left_out.sum()),
        "unreadable": int(np.sum(~faces.readable)),
        "images_without_face": int(np.sum(faces.readable & (faces.counts() == 0))),
        "faces": len(faces.face_image),
        "faces_left_out": len(faces.face_image) - int(found.sum()),
        "rank1": correct / probes if probes else None,
        "probes": probes,
        "gallery": int(first.sum()),
        **_verification(loaded, pairs),
        **_throughput(faces),
    }


def _measure_pairs(loaded: LoadedEngine, pairs_file: Path, cache: Path | None, plots: Path | None) -> dict[str, Any]:
    try:
        listed = read_pairs(pairs_file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    photos = sorted({path for _, *both in listed for path in both})
    where = {path: n for n, path in enumerate(photos)}
    faces = analyse(loaded, photos, cache)
    main = faces.main_faces()
    vectors = np.zeros((len(photos), loaded.engine.embedder.embedding_size), np.float32)
    vectors[main >= 0] = faces.embeddings[main[main >= 0]]
    first = np.array([where[a] for _, a, _ in listed], dtype=np.int64)
    second = np.array([where[b] for _, _, b in listed], dtype=np.int64)
    same = np.array([s for s, _, _ in listed], dtype=bool)
    missing = (main[first] < 0) | (main[second] < 0)
    scores = np.where(missing, -1.0, pair_similarity(vectors, first, second)).astype(np.float32)  # a refusal
    pairs = PairScores(genuine=scores[same], impostor=scores[~same])
    if plots is not None:
        write_charts(plots, f"{loaded.pack.name}-{pairs_file.stem}", pairs, _threshold_lines(loaded))
    return {
        "file": str(pairs_file),
        "pairs": len(listed),
        "images": len(photos),
        "pairs_without_face": int(missing.sum()),
        "faces_left_out": len(faces.face_image) - int(np.sum(main >= 0)),
        **_verification(loaded, pairs),
        **_throughput(faces),
    }


def _verification(loaded: LoadedEngine, pairs: PairScores) -> dict[str, Any]:
    """TAR at the FARs these pairs can measure, what the pack's own (1:1) operating threshold does on
    them, and what the service's default operating point does as the gallery grows."""
    fars = readable_fars(len(pairs.impostor), FARS)
    metrics: Verification = verify(pairs, fars)
    calibration = loaded.pack.calibration
    threshold = calibration.threshold()
    observed = observed_far(pairs.impostor, threshold)
    return {
        "genuine_pairs": len(pairs.genuine),
        "impostor_pairs": len(pairs.impostor),
        "tar_at_far": {f"{far:g}": metrics.tar[far] for far in fars},
        "threshold_at_far": {f"{far:g}": round(metrics.thresholds[far], 4) for far in fars},
        "operating_point": {
            "far": calibration.operating_far,
            "threshold": round(threshold, 4),
            "tar": float(np.mean(pairs.genuine > threshold)) if len(pairs.genuine) else None,
            "observed_far": observed,
        },
        "one_to_many": [one_to_many(calibration, pairs, size, MAX_WRONG) for size in GALLERY_SIZES],
        "auc": metrics.auc,
        "best_threshold": round(metrics.best_threshold, 4),
        "best_accuracy": metrics.best_accuracy,
    }


def _throughput(faces: PhotoFaces) -> dict[str, Any]:
    seconds = max(faces.seconds, 1e-9)
    return {
        "seconds": round(faces.seconds, 2),
        "images_per_s": round(len(faces) / seconds, 2),
        "faces_per_s": round(len(faces.face_image) / seconds, 2),
    }


def _threshold_lines(loaded: LoadedEngine) -> dict[str, float]:
    calibration = loaded.pack.calibration
    return {f"pack threshold at FAR {far:g}": threshold for far, threshold in calibration.points}


def _as_text(report: dict[str, Any]) -> str:
    lines = [f"pack {report['pack']} on {report['runtime']} (loaded in {report['load_seconds']} s)"]
    if "identities" in report:
        rank1 = "n/a" if report["rank1"] is None else f"{100 * report['rank1']:.1f} % of {report['probes']} probes"
        lines += [
            f"identities {report['identities']}, images {report['images']} + {report['impostor_images']} impostor "
            f"images ({report['unreadable']} unreadable, {report['images_without_face']} without a face), faces "
            f"{report['faces']} ({report['faces_left_out']} not the photo's main face, left out)",
            f"rank-1 identification: {rank1} (gallery {report['gallery']})",
            *_verification_text(report),
        ]
    if "pairs" in report:
        pairs = report["pairs"]
        lines += [
            f"pairs {pairs['file']}: {pairs['pairs']} ({pairs['pairs_without_face']} without a face: refused), "
            f"{pairs['images']} images",
            *_verification_text(pairs),
        ]
    return "\n".join(lines)


def _verification_text(report: dict[str, Any]) -> list[str]:
    point = report["operating_point"]
    tar = "n/a" if point["tar"] is None else f"{100 * point['tar']:.2f} %"
    lines = [f"genuine pairs {report['genuine_pairs']:,}, impostor pairs {report['impostor_pairs']:,}"]
    for far, value in report["tar_at_far"].items():
        lines.append(f"TAR at FAR {far}: {100 * value:.2f} % (threshold {report['threshold_at_far'][far]})")
    wrong = "; ".join(
        f"{row['gallery_faces']:,} photos: FAR {row['far']:.0e}, TAR {100 * row['tar']:.2f} %, "
        f"{row['wrong_per_search']:.2g} wrong"
        for row in report["one_to_many"]
    )
    return [
        *lines,
        f"pack threshold {point['threshold']} (FAR {point['far']:g}): TAR {tar}, "
        f"observed FAR {point['observed_far']:.2e}",
        f"the service's default point (at most {MAX_WRONG} wrong cases per face searched) at {wrong}",
        f"ROC AUC: {report['auc']:.5f}",
        f"best accuracy {100 * report['best_accuracy']:.2f} % at threshold {report['best_threshold']}",
        f"throughput: {report['images_per_s']} images/s, {report['faces_per_s']} faces/s ({report['seconds']} s)",
    ]
