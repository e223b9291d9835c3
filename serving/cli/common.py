"""What every `sura` command shares: options that pick the pack and runtime, and errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from configs.settings import Settings, get_settings
from models.errors import ModelError
from models.packs import ModelPack
from models.registry import load_engine, resolve_pack
from pipeline.engine import FaceEngine


@dataclass(frozen=True)
class LoadedEngine:
    """A pack, its engine, and how long loading took (excluded from throughput numbers)."""

    pack: ModelPack
    engine: FaceEngine
    load_seconds: float


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --pack, --backend and --device, defaulting to the settings."""
    command = click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where networks run.")(command)
    command = click.option("--backend", type=click.Choice(["onnxruntime", "torch"]), help="How ONNX networks run.")(
        command
    )
    return click.option("--pack", "pack_name", help="Model pack: a name (see `sura packs`) or a .toml manifest.")(
        command
    )


def load(pack_name: str | None, backend: str | None, device: str | None) -> LoadedEngine:
    """Resolve the pack and load its networks, turning model errors into CLI errors."""
    settings = with_overrides(get_settings(), pack_name, backend, device)
    started = time.perf_counter()
    try:
        pack = resolve_pack(settings.models.pack, settings.models.sources())
        engine = load_engine(pack, settings.models.runtime(), settings.pipeline.engine())
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    return LoadedEngine(pack=pack, engine=engine, load_seconds=time.perf_counter() - started)


def with_overrides(settings: Settings, pack: str | None, backend: str | None, device: str | None) -> Settings:
    changes = {k: v for k, v in {"pack": pack, "backend": backend, "device": device}.items() if v}
    return settings.model_copy(update={"models": settings.models.model_copy(update=changes)})
