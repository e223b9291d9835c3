"""Hostile images: formats outside the allow-list, frame bombs, costly modes and batches too large to decode."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.decode import ACCEPTED_FORMATS, decode_each, decode_image
from pipeline.errors import ImageTooLargeError, UnsupportedImageError


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _gif_of(frames: int) -> bytes:
    """A 1×1 GIF of ``frames`` frames, 15 bytes each: a frame bomb like the 25 MB one of 1.75 M frames."""
    head = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b"\x3b"


@pytest.fixture(scope="module")
def sixteen_bit_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-bit grey 7000×7000 PNG: about 100 KiB on disk, 98 MB as Pillow holds it."""
    path = tmp_path_factory.mktemp("hostile") / "deep.png"
    Image.new("I;16", (7000, 7000), 40_000).save(path)
    return path


@pytest.mark.parametrize("fmt", ["PCX", "TGA", "ICO", "PPM", "SGI", "DDS"])
def test_formats_outside_the_allow_list_are_refused(fmt: str) -> None:
    data = _encode(Image.new("RGB", (16, 16), (200, 10, 10)), fmt)
    assert Image.open(io.BytesIO(data)).format is not None  # Pillow itself would read it
    with pytest.raises(UnsupportedImageError, match="JPEG, PNG"):
        decode_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"])
def test_the_allowed_formats_are_read(fmt: str) -> None:
    decoded = decode_image(_encode(Image.new("RGB", (16, 12), (200, 10, 10)), fmt))
    assert decoded.pixels.shape == (12, 16, 3) and decoded.format == fmt
    assert fmt in ACCEPTED_FORMATS


def test_a_gif_with_a_great_many_frames_costs_no_more_than_a_few() -> None:
    data = _gif_of(600_000)  # counting them all costs about 1.5 s of CPU
    started = time.process_time()
    decoded = decode_image(data)
    spent = time.process_time() - started
    assert decoded.pixels.shape == (1, 1, 3)
    assert spent < 0.3, f"decoding took {spent:.2f} s of CPU: the frames were counted"
    assert any("first of more than" in note for note in decoded.notes), decoded.notes


def test_a_few_frames_are_still_counted() -> None:
    assert any("first of 7 frames" in note for note in decode_image(_gif_of(7)).notes)
    pages = [Image.new("L", (8, 8), shade) for shade in (10, 20, 30)]
    tiff = decode_image(_encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert tiff.pixels[0, 0].tolist() == [10, 10, 10] and any("first of 3 frames" in n for n in tiff.notes)


def test_the_decoded_size_is_checked_per_mode_before_decoding(sixteen_bit_png: Path) -> None:
    data = sixteen_bit_png.read_bytes()
    started = time.process_time()
    with pytest.raises(ImageTooLargeError, match="MB to decode"):
        decode_image(data, max_decoded_bytes=200 * 2**20)
    assert time.process_time() - started < 0.2, "refused from the header, before any pixel was decoded"
    grey = _encode(Image.new("L", (4000, 4000), 90), "PNG")
    assert decode_image(grey, max_decoded_bytes=200 * 2**20).pixels.shape == (4000, 4000, 3)
    with pytest.raises(ImageTooLargeError, match="LA image"):  # the same pixels with alpha cost more
        decode_image(_encode(Image.new("LA", (4000, 4000), (90, 128)), "PNG"), max_decoded_bytes=200 * 2**20)


def test_a_sixteen_bit_png_decodes_within_bounded_memory(sixteen_bit_png: Path) -> None:
    """Today's peak was near 900 MB (int64 copies of every pixel); decoded, it is 147 MB of RGB."""
    probe = (  # VmHWM: the peak resident size of this process alone (ru_maxrss carries the parent's over exec)
        "import re, sys\n"
        "from pipeline.decode import decode_image\n"
        "def peak(): return int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = peak()\n"
        "pixels = decode_image(data).pixels\n"
        "assert pixels.shape == (7000, 7000, 3) and int(pixels[0, 0, 0]) == 40000 >> 8\n"
        "print((peak() - before) // 1024)\n"
    )
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", probe, str(sixteen_bit_png)], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    peak_mb = int(run.stdout.strip())
    assert peak_mb < 450, f"decoding peaked {peak_mb} MB above the start"


def test_a_batch_is_decoded_within_its_byte_budget() -> None:
    small = _encode(Image.new("RGB", (100, 100), (0, 120, 0)), "PNG")
    large = _encode(Image.new("RGB", (2000, 2000), (0, 0, 120)), "PNG")  # 4 M pixels, about 28 MB to decode
    outcomes = decode_each([large, small, small], max_batch_bytes=20 * 2**20)
    assert isinstance(outcomes[0], ImageTooLargeError) and "batch" in str(outcomes[0])
    assert [o.pixels.shape for o in outcomes[1:] if not isinstance(o, Exception)] == [(100, 100, 3)] * 2
    together = decode_each([large, small], max_batch_bytes=64 * 2**20)
    assert all(not isinstance(o, Exception) for o in together)
    assert np.asarray(together[0].pixels)[0, 0].tolist() == [0, 0, 120]  # type: ignore[union-attr]
