"""The Detector deployment: photo bytes in, faces and aligned crops out, many photos per batch."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve

from configs.faces import ModelSettings, PipelineSettings
from models.registry import load_photo_locator, resolve_pack
from pipeline.errors import ImageError
from serving.deployments.messages import BatchLog, LocatedPhoto, PhotoError
from serving.metrics import observe_photos, timed

logger = logging.getLogger(__name__)


@serve.deployment(name="Detector", max_ongoing_requests=64)
class Detector:
    """Decodes photos and finds, aligns and assesses their faces with the pack's detector."""

    def __init__(self, models: ModelSettings, pipeline: PipelineSettings) -> None:
        pack = resolve_pack(models.pack, models.sources())
        self.locator = load_photo_locator(pack, models.runtime(), pipeline.engine())
        self.max_pixels = pipeline.max_pixels
        self.batches = BatchLog(max_batch_size=8)
        logger.info("Detector ready: pack %s on %s", pack.name, self.locator.description)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """``user_config``: max_batch_size and batch_wait_timeout_s, changeable while serving."""
        self.batches.apply(self.locate, config)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def locate(self, photos: list[bytes]) -> list[LocatedPhoto | PhotoError]:
        # A thread keeps the event loop free to queue the next batch while this one runs.
        return await asyncio.to_thread(self._locate, photos)

    async def batch_sizes(self) -> list[int]:
        return self.batches.snapshot()

    async def batching(self) -> dict[str, Any]:
        """The batch limits in force on this replica."""
        return self.batches.limits()

    def _locate(self, photos: list[bytes]) -> list[LocatedPhoto | PhotoError]:
        self.batches.record(len(photos))
        with timed("detect"):  # decoding, detection, alignment and quality
            found = self.locator.locate_photos(photos, max_pixels=self.max_pixels)
        observe_photos(found)
        return [
            PhotoError.of(f)
            if isinstance(f, ImageError)
            else LocatedPhoto(f.located.faces, f.located.crops, f.format, f.notes)
            for f in found
        ]
