"""`sura calibrate PACK`: the pack's similarity → false-accept-rate table, measured on labelled photos.

Impostor pairs are every pair of main faces of different people (identity folders plus
impostor-only photos: on ../shared/calibration about 11.5 million, enough to read FAR 1e-5 and,
roughly, 1e-6). The FARs must hold on photos the table was not fitted on, so the table is also
fitted on a random half of the identities and its false-accept rates observed on the other half.
It also measures the centroid tables (a face against the normalised mean of a case's 2, and of
3, photos: identities with more photos than that make the cases, everyone else the impostors),
and prints what the service's default operating point keeps of the true matches as the gallery
grows (``pipeline.calibration.operating_point``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import numpy as np

from configs.faces import MatchingSettings
from configs.settings import get_settings
from pipeline.calibration import Calibration
from pipeline.evaluate import (
    PairScores,
    centroid_scores,
    far_thresholds,
    observed_far,
    one_to_many,
    pair_scores,
    readable_fars,
    split_identities,
)
from serving.cli.common import load
from serving.cli.evaluate import analyse
from serving.cli.labelled import labelled_set, leave_out_option, read_leave_out

FARS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
CENTROID_PHOTOS = (2, 3)  # the largest table also serves cases of more photos
GALLERIES = (1_000, 10_000, 100_000)  # reference faces, for the 1:N lines of the report
MAX_WRONG = MatchingSettings().max_wrong_per_search
CALIBRATION_DATA = Path("../shared/calibration")
_DIRECTORY = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("calibrate")
@click.argument("pack_name", metavar="PACK")
@click.option("--data", type=_DIRECTORY, default=CALIBRATION_DATA / "lfw", show_default=True, help="Identity folders.")
@click.option(
    "--impostors", type=_DIRECTORY, default=CALIBRATION_DATA / "lfw_singles", show_default=True, help="Other people."
)
@leave_out_option
@click.option("--operating-far", type=float, default=1e-3, show_default=True, help="FAR of the default threshold.")
@click.option("--write", is_flag=True, help="Replace the [calibration] table of the pack's manifest.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), help="Keep (and reuse) the faces found.")
@click.option("--backend", type=click.Choice(["onnxruntime", "torch"]), help="How ONNX networks run.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where networks run.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def calibrate(
    pack_name: str,
    data: Path,
    impostors: Path,
    leave_out: Path,
    operating_far: float,
    write: bool,
    cache: Path | None,
    backend: str | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Measure PACK's thresholds at FAR 1e-1 … 1e-6 and print (or --write) its [calibration] table."""
    labelled = labelled_set(data, impostors, read_leave_out(leave_out))
    if not labelled.identities:
        raise click.ClickException(f"{data} has no identity sub-folders with files")
    manifest = _manifest(pack_name) if write else None
    loaded = load(pack_name, backend, device)
    faces = analyse(loaded, labelled.paths, cache)
    main = faces.main_faces()
    found = (main >= 0) & ~labelled.left_out
    report = measure(faces.embeddings[main[found]], labelled.labels[found], operating_far)
    report.update(
        pack=loaded.pack.name,
        photos=len(labelled.paths),
        identities=labelled.identities,
        impostor_photos=int(labelled.impostor.sum()),
        without_face=int(np.sum((main < 0) & ~labelled.left_out)),
        left_out=int(labelled.left_out.sum()),
    )
    calibration = Calibration(
        points=tuple((float(far), t) for far, t in report["thresholds"].items()),
        source=_source(report, data, impostors),
        operating_far=operating_far,
        centroid=tuple(
            (int(m), tuple((float(far), t) for far, t in table["thresholds"].items()))
            for m, table in report["centroid"].items()
        ),
    )
    table = calibration_table(calibration)
    if manifest is not None:
        replace_calibration(manifest, table)
    click.echo(json.dumps({**report, "table": table}, indent=2) if as_json else _as_text(report, table, manifest))


def measure(embeddings: np.ndarray, labels: np.ndarray, operating_far: float = 1e-3) -> dict[str, Any]:
    """Thresholds on all pairs, and FARs observed on one half of the identities at the other half's thresholds."""
    pairs = pair_scores(embeddings, labels)
    fars = readable_fars(len(pairs.impostor), FARS)
    thresholds = far_thresholds(pairs.impostor, fars)
    fitted_table = Calibration(tuple(thresholds.items()), "", operating_far)
    half = split_identities(labels)
    held = _held_out(pair_scores(embeddings[half], labels[half]), pair_scores(embeddings[~half], labels[~half]))
    return {
        "genuine_pairs": len(pairs.genuine),
        "impostor_pairs": len(pairs.impostor),
        **_table(pairs),
        "held_out": held,
        "centroid": {str(m): _centroid_table(embeddings, labels, m) for m in CENTROID_PHOTOS},
        "operating_far": operating_far,
        "one_to_many": [one_to_many(fitted_table, pairs, size, MAX_WRONG) for size in GALLERIES],
    }


def _table(scores: PairScores) -> dict[str, dict[str, float]]:
    """Thresholds at every FAR the impostor scores can read, and the share of genuine scores above each."""
    thresholds = far_thresholds(scores.impostor, readable_fars(len(scores.impostor), FARS))
    return {
        "thresholds": {f"{far:g}": round(t, 4) for far, t in thresholds.items()},
        "tar": {f"{far:g}": float(np.mean(scores.genuine > t)) for far, t in thresholds.items()},
    }


def _held_out(fitted: PairScores, checked: PairScores) -> dict[str, Any]:
    """The FARs observed on ``checked`` at the thresholds fitted on ``fitted`` (other identities)."""
    thresholds = far_thresholds(fitted.impostor, readable_fars(len(fitted.impostor), FARS))
    return {
        "fitted_impostor_pairs": len(fitted.impostor),
        "checked_impostor_pairs": len(checked.impostor),
        "observed_far": {f"{far:g}": observed_far(checked.impostor, t) for far, t in thresholds.items()},
    }


def _centroid_table(embeddings: np.ndarray, labels: np.ndarray, photos: int) -> dict[str, Any]:
    """The centroid table for cases of ``photos`` photos, with its own held-out check."""
    scores = centroid_scores(embeddings, labels, photos)
    half = split_identities(labels)
    fitted = centroid_scores(embeddings[half], labels[half], photos)
    checked = centroid_scores(embeddings[~half], labels[~half], photos)
    return {"impostor_scores": len(scores.impostor), **_table(scores), "held_out": _held_out(fitted, checked)}


def calibration_table(calibration: Calibration) -> str:
    """The ``[calibration]`` table of a pack manifest."""

    def listed(points: tuple[tuple[float, float], ...]) -> str:
        return "[" + ", ".join(f"[{_far(far)}, {threshold:.4f}]" for far, threshold in points) + "]"

    centroid = "".join(f"centroid_{m} = {listed(points)}\n" for m, points in calibration.centroid)
    return (
        "[calibration]\n"
        f"source = {json.dumps(calibration.source, ensure_ascii=False)}\n"
        f"operating_far = {_far(calibration.operating_far)}\n"
        f"thresholds = {listed(calibration.points)}\n" + centroid
    )


def _far(far: float) -> str:
    power = round(np.log10(far))
    return f"1e{power}" if np.isclose(far, 10.0**power) else f"{far:g}"


def replace_calibration(manifest: Path, table: str) -> None:
    """Put ``table`` in place of the manifest's ``[calibration]`` table, leaving the rest of the file as it is."""
    text = manifest.read_text(encoding="utf-8")
    section = re.compile(r"^\[calibration\][^\n]*\n(?:(?!\[)[^\n]*\n?)*", re.MULTILINE)
    updated, found = section.subn(lambda _: table, text, count=1)
    if not found:
        updated = text.rstrip("\n") + "\n\n" + table
    manifest.write_text(updated, encoding="utf-8")


def _manifest(pack_name: str) -> Path:
    """The manifest file of a pack, for --write; packs defined in code have none."""
    if pack_name.endswith(".toml"):
        return Path(pack_name)
    for folder in get_settings().models.pack_dirs:
        if (folder / f"{pack_name}.toml").is_file():
            return folder / f"{pack_name}.toml"
    raise click.ClickException(
        f"pack {pack_name} has no manifest to write (it is defined in code): run without --write and "
        "put the printed table into its definition"
    )


def _source(report: dict[str, Any], data: Path, impostors: Path) -> str:
    held = report["held_out"]["observed_far"]
    check = f"; fitted on a random half of the identities, FAR 1e-4 reads {held['0.0001']:.1e} on the other half"
    folder_photos = report["photos"] - report["impostor_photos"]
    return (
        f"`sura calibrate` on {data} ({report['identities']:,} identities, {folder_photos:,} photos) + {impostors} "
        f"({report['impostor_photos']:,} photos), main faces ({report['without_face']} photos without one, "
        f"{report['left_out']} left out as mislabelled): "
        f"{report['genuine_pairs']:,} genuine and {report['impostor_pairs']:,} impostor pairs"
        + (check if "0.0001" in held else "")
    )


def _as_text(report: dict[str, Any], table: str, manifest: Path | None) -> str:
    held = report["held_out"]
    lines = [
        f"pack {report['pack']}: {report['photos']} photos ({report['identities']} identities + "
        f"{report['impostor_photos']} impostor photos), {report['without_face']} without a face, "
        f"{report['left_out']} left out as mislabelled",
        f"genuine pairs {report['genuine_pairs']:,}, impostor pairs {report['impostor_pairs']:,}; held-out check: "
        f"fitted on {held['fitted_impostor_pairs']:,} impostor pairs, observed on {held['checked_impostor_pairs']:,}",
        "FAR      threshold  TAR      observed FAR on the other half (ratio)",
    ]
    for far, threshold in report["thresholds"].items():
        seen = held["observed_far"].get(far)
        check = "n/a" if seen is None else f"{seen:.2e} ({seen / float(far):.2f}×)"
        lines.append(f"{float(far):<8.0e} {threshold:<10.4f} {100 * report['tar'][far]:6.2f} %  {check}")
    for m, centroid in report["centroid"].items():
        seen = centroid["held_out"]["observed_far"].get("0.0001")
        check = "" if seen is None else f"; fitted on half the identities, FAR 1e-4 reads {seen:.1e} on the other"
        lines.append(f"centroid of {m} photos ({centroid['impostor_scores']:,} impostor scores{check}):")
        lines += [
            f"  {float(far):<8.0e} {threshold:<10.4f} {100 * centroid['tar'][far]:6.2f} %"
            for far, threshold in centroid["thresholds"].items()
        ]
    lines += ["", f"1:N at the default operating point (at most {MAX_WRONG} wrong cases per face searched):"]
    lines += [
        f"  {row['gallery_faces']:>7,} reference faces, one per case: FAR {row['far']:.0e}, "
        f"threshold {row['threshold']:.4f}, TAR {100 * row['tar']:.2f} %, "
        f"wrong cases per search {row['wrong_per_search']:.2g}"
        for row in report["one_to_many"]
    ]
    lines += ["", table.rstrip("\n")]
    if manifest is not None:
        lines.append(f"written to {manifest}")
    return "\n".join(lines)
