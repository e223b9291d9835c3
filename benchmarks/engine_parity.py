"""Our engine next to a plain InsightFace-style pipeline on degraded copies of LFW, same two ONNX files.

    python benchmarks/engine_parity.py --identities 300 --copies /work/cache/parity --cache /work/cache/faces

Old family-album scans are tight, greyscale, small and re-encoded: the copies are each of those
and their combinations, made once into ``--copies`` (outside the repository; a temporary folder
by default). Each variant is measured as ``sura eval`` measures a folder: the main face of each
photo, the first photo of each identity the gallery, TAR at FAR 1e-3 over all pairs of main faces
and rank-1 over the probes (photos without a face count as misses). The plain pipeline is what
most face projects run: InsightFace's SCRFD at 640×640, a retry inside a black border when it
finds nothing, ``norm_crop`` and ArcFaceONNX, one image at a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import print_table
from models.packs import ModelPack
from models.registry import PackSources, load_engine, resolve_pack
from pipeline.evaluate import pair_scores, rank_one, verify
from serving.cli.labelled import PhotoFaces, analyse_photos, identity_photos

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
LFW = SHARED / "calibration" / "lfw"
FAR = 1e-3
# LFW deep-funneled photos are 250×250 with the face centred; SCRFD's box of it is about
# x 79–173, y 61–192. "snug" keeps a little around the face, "tight" the face and little else,
# as an album print or ID photo does; SCRFD at 640×640 finds almost none of either unpadded.
SNUG_BOX = (60, 45, 190, 210)
TIGHT_BOX = (72, 62, 178, 192)
Step = Callable[[Image.Image], Image.Image]


def _snug(image: Image.Image) -> Image.Image:
    return image.crop(SNUG_BOX)


def _tight(image: Image.Image) -> Image.Image:
    return image.crop(TIGHT_BOX)


def _grey(image: Image.Image) -> Image.Image:
    return image.convert("L")  # saved single-channel, as a greyscale scan is


def _small(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)


# Variant → steps, in order; the copies are JPEGs (quality 75 once shrunk, as web copies are).
VARIANTS: dict[str, tuple[Step, ...]] = {
    "lfw": (),
    "grey": (_grey,),
    "small": (_small,),
    "snug": (_snug,),
    "tight": (_tight,),
    "tight-grey": (_tight, _grey),
    "tight-grey-small": (_tight, _grey, _small),
}


@dataclass(frozen=True)
class Scores:
    """One runner on one variant: main faces found, TAR at ``FAR`` and rank-1 (0–1).

    tar: over the pairs of photos with a main face, as ``sura eval`` counts it; tar_all: over
    all pairs, a photo without a main face refused (so a missed face costs here too).
    """

    found: int
    photos: int
    tar: float
    tar_all: float
    rank1: float


def lfw_subset(folder: Path, identities: int) -> list[tuple[str, Path]]:
    """(identity, photo) of ``identities`` identities spread evenly over ``folder`` (all when 0)."""
    photos = identity_photos(folder)
    names = sorted({name for name, _ in photos})
    step = max(1, len(names) // identities) if identities else 1
    chosen = set(names[::step][: identities or None])
    return [(name, path) for name, path in photos if name in chosen]


def make_copies(photos: Sequence[tuple[str, Path]], variant: str, root: Path) -> list[Path]:
    """The ``variant`` copy of each photo under ``root/variant/identity/``, made once (originals for "lfw")."""
    steps = VARIANTS[variant]
    if not steps:
        return [path for _, path in photos]
    copies = []
    for name, path in photos:
        target = root / variant / name / f"{path.stem}.jpg"
        if not target.is_file():
            image = Image.open(path).convert("RGB")
            for step in steps:
                image = step(image)
            target.parent.mkdir(parents=True, exist_ok=True)
            image.save(target, quality=75 if _small in steps else 90)
        copies.append(target)
    return copies


def score(faces: PhotoFaces, labels: NDArray[np.int64]) -> Scores:
    """As ``sura eval`` scores a folder: main faces only, each identity's first found photo the gallery."""
    main = faces.main_faces()
    found = main >= 0
    embeddings, kept = faces.embeddings[main[found]], labels[found]
    first = np.r_[True, kept[1:] != kept[:-1]] if len(kept) else np.zeros(0, bool)
    correct, _ = rank_one(embeddings, kept, first)
    probes = len(labels) - int(first.sum())  # photos without a face count as missed probes
    tar = verify(pair_scores(embeddings, kept), (FAR,)).tar[FAR]
    # A zero vector scores 0 with everything: below the threshold at FAR 1e-3 of any pack here.
    everyone = np.zeros((len(labels), faces.embeddings.shape[1]), np.float32)
    everyone[found] = embeddings
    tar_all = verify(pair_scores(everyone, labels), (FAR,)).tar[FAR]
    return Scores(int(found.sum()), len(labels), tar, tar_all, correct / max(probes, 1))


class PlainPipeline:
    """InsightFace's own pieces, image by image: SCRFD, a black-border retry when it finds no face,
    ``norm_crop`` and ArcFaceONNX. ``pad_ratio``: the border, a share of the longer side."""

    def __init__(self, pack: ModelPack, pad_ratio: float = 0.5) -> None:
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX
        from insightface.model_zoo.scrfd import SCRFD

        self.input_size = pack.detector.input_size
        self.detector = SCRFD(model_file=str(pack.detector.file.verified()))
        self.detector.prepare(-1, input_size=self.input_size)
        self.recogniser = ArcFaceONNX(model_file=str(pack.embedder.file.verified()))
        self.recogniser.prepare(-1)
        self.pad_ratio = pad_ratio

    def faces(self, bgr: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(F, 5) boxes with scores and (F, 5, 2) landmarks, in the image's pixels."""
        boxes, points = self.detector.detect(bgr, input_size=self.input_size)
        if len(boxes) or self.pad_ratio <= 0:
            return boxes, points
        border = max(1, round(self.pad_ratio * max(bgr.shape[:2])))
        framed = cv2.copyMakeBorder(bgr, border, border, border, border, cv2.BORDER_CONSTANT, value=0)
        boxes, points = self.detector.detect(framed, input_size=self.input_size)
        boxes[:, :4] -= border
        return boxes, points - border

    def analyse(self, paths: Sequence[Path]) -> PhotoFaces:
        """Every face of every photo, as the columns our engine's analysis gives."""
        from insightface.utils.face_align import norm_crop

        rows: list[tuple[int, NDArray[np.float32], NDArray[np.float32]]] = []
        sizes = []
        for n, path in enumerate(paths):
            read = cv2.imread(str(path))  # greyscale JPEGs come back with three equal channels
            if read is None:
                raise SystemExit(f"cannot read {path}")
            bgr = np.asarray(read, dtype=np.uint8)
            sizes.append(bgr.shape[1::-1])
            boxes, points = self.faces(bgr)
            for box, landmarks in zip(boxes, points, strict=True):
                vector = self.recogniser.get_feat(norm_crop(bgr, landmarks)).ravel()
                rows.append((n, box, vector / np.linalg.norm(vector)))
        dimension = self.recogniser.output_shape[-1]
        return PhotoFaces(
            readable=np.ones(len(paths), bool),
            width=np.array([w for w, _ in sizes], np.int64),
            height=np.array([h for _, h in sizes], np.int64),
            face_image=np.array([n for n, _, _ in rows], np.int64),
            boxes=np.array([b[:4] for _, b, _ in rows], np.float32).reshape(-1, 4),
            scores=np.array([b[4] for _, b, _ in rows], np.float32),
            sharpness=np.zeros(len(rows), np.float32),
            embeddings=np.array([v for _, _, v in rows], np.float32).reshape(-1, dimension),
            seconds=0.0,
        )


def main() -> None:
    args = _arguments()
    # InsightFace's norm_crop calls a scikit-image API that warns on every face.
    warnings.filterwarnings("ignore", message="`estimate` is deprecated", category=FutureWarning)
    photos = lfw_subset(args.lfw, args.identities)
    labels = np.unique([name for name, _ in photos], return_inverse=True)[1].astype(np.int64)
    print(f"{len(photos)} photos of {labels.max() + 1} identities from {args.lfw}\n")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.copies or Path(scratch)
        print_table(
            ("pack", "variant", "runner", "faces found", f"TAR@{FAR:g}", "TAR all pairs", "rank-1"),
            _rows(args, photos, labels, root),
        )


def _rows(
    args: argparse.Namespace, photos: Sequence[tuple[str, Path]], labels: NDArray[np.int64], root: Path
) -> Iterator[tuple[str, ...]]:
    for name in args.packs:
        pack = resolve_pack(name, PackSources())
        engine = load_engine(pack)
        plain = PlainPipeline(pack, args.plain_pad)
        for variant in args.variants:
            paths = make_copies(photos, variant, root)
            ours = score(analyse_photos(engine, pack, paths, cache_dir=args.cache), labels)
            theirs = score(plain.analyse(paths), labels)
            for runner, result in (("ours", ours), ("plain InsightFace", theirs)):
                found = f"{result.found}/{result.photos}"
                yield (name, variant, runner, found, _pc(result.tar), _pc(result.tar_all), _pc(result.rank1))


def _pc(value: float) -> str:
    return f"{100 * value:.2f} %"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=LFW, help="one sub-folder of photos per identity")
    parser.add_argument("--identities", type=int, default=300, help="how many identities (0: all)")
    parser.add_argument("--packs", nargs="+", default=["shared-scrfd", "buffalo_s"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--copies", type=Path, help="where the degraded copies are kept (default: a temporary folder)")
    parser.add_argument("--cache", type=Path, help="keep our engine's faces here (outside the repository)")
    parser.add_argument("--plain-pad", type=float, default=0.5, help="the plain pipeline's retry border")
    return parser.parse_args()


if __name__ == "__main__":
    main()
