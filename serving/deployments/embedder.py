"""The Embedder deployment: aligned crops of many photos in, unit embeddings out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ray import serve

from configs.faces import ModelSettings, PipelineSettings
from models.registry import load_embedder, resolve_pack
from pipeline.engine import embed_groups
from serving.deployments.messages import BatchLog
from serving.metrics import metrics, timed

logger = logging.getLogger(__name__)


@serve.deployment(name="Embedder", max_ongoing_requests=64)
class Embedder:
    """Embeds the faces of several photos in one network call (chunked by ``embed_batch``)."""

    def __init__(self, models: ModelSettings, pipeline: PipelineSettings) -> None:
        pack = resolve_pack(models.pack, models.sources())
        self.embedder = load_embedder(pack, models.runtime())
        self.chunk = pipeline.embed_batch
        self.batches = BatchLog(max_batch_size=16)
        logger.info("Embedder ready: pack %s on %s", pack.name, self.embedder.description)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """``user_config``: max_batch_size (photos) and batch_wait_timeout_s."""
        self.batches.apply(self.embed, config)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def embed(self, crops: list[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        """Each item: one photo's (F, S, S, 3) crops; each result: its (F, D) embeddings."""
        return await asyncio.to_thread(self._embed, crops)

    async def batch_sizes(self) -> list[int]:
        return self.batches.snapshot()

    async def batching(self) -> dict[str, Any]:
        """The batch limits in force on this replica."""
        return self.batches.limits()

    def _embed(self, crops: list[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        self.batches.record(len(crops))
        metrics().batch_size.observe(len(crops))
        with timed("embed"):
            return embed_groups(self.embedder, crops, self.chunk)
