"""Untrusted bytes in: every odd or broken image is read correctly or refused with a reason."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.decode import decode_image, read_image_file
from pipeline.errors import CorruptImageError, EmptyImageError, ImageTooLargeError, UnsupportedImageError


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR for a huge image, followed by a tiny (wrong) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def photo(faces_dir: Path) -> Image.Image:
    return Image.open(faces_dir / "people" / "fr_obama" / "examples__obama.jpg").convert("RGB")


def test_empty_file_is_refused() -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        decode_image(b"")


def test_text_named_jpg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(UnsupportedImageError, match="not an image"):
        read_image_file(path)


def test_truncated_jpeg_is_refused(photo: Image.Image) -> None:
    data = _encode(photo, "JPEG")
    with pytest.raises(CorruptImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_huge_png_header_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(_png_header_claiming(30000, 30000))


def test_pixel_limit_is_configurable(photo: Image.Image) -> None:
    data = _encode(photo, "PNG")
    with pytest.raises(ImageTooLargeError, match="limit"):
        decode_image(data, max_pixels=1000)
    assert decode_image(data).pixels.shape == (photo.height, photo.width, 3)


def test_file_size_limit(tmp_path: Path, photo: Image.Image) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_encode(photo, "PNG"))
    with pytest.raises(ImageTooLargeError, match="bytes"):
        read_image_file(path, max_bytes=100)


def test_animated_gif_gives_first_frame_and_says_so() -> None:
    frames = [Image.new("RGB", (32, 24), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(data)
    assert decoded.pixels.shape == (24, 32, 3)
    assert decoded.pixels[0, 0].tolist() == [255, 0, 0]
    assert any("first of 3 frames" in note for note in decoded.notes)


def test_cmyk_jpeg_becomes_rgb(photo: Image.Image) -> None:
    decoded = decode_image(_encode(photo.convert("CMYK"), "JPEG", quality=95))
    assert decoded.pixels.shape == (photo.height, photo.width, 3)
    difference = np.abs(decoded.pixels.astype(int) - np.asarray(photo, dtype=int)).mean()
    assert difference < 8, f"CMYK round trip differs by {difference:.1f} grey levels on average"


def test_sixteen_bit_png_keeps_its_range() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (8, 1))
    decoded = decode_image(_encode(Image.fromarray(ramp), "PNG"))
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels[0, 0, 0] == 0 and decoded.pixels[0, -1, 0] == 255
    assert np.all(np.diff(decoded.pixels[0, :, 0].astype(int)) >= 0)


def test_transparent_png_is_composited_on_white() -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[:2, :, :] = (10, 20, 30, 255)
    decoded = decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert decoded.pixels[0, 0].tolist() == [10, 20, 30]
    assert decoded.pixels[3, 3].tolist() == [255, 255, 255]


def test_grey_and_palette_images_become_rgb(photo: Image.Image) -> None:
    for mode in ("L", "P", "1"):
        decoded = decode_image(_encode(photo.convert(mode), "PNG"))
        assert decoded.pixels.shape == (photo.height, photo.width, 3)


def test_exif_orientation_is_applied(photo: Image.Image) -> None:
    turned = photo.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    decoded = decode_image(_encode(turned, "JPEG", quality=95, exif=exif))
    assert decoded.pixels.shape == (photo.height, photo.width, 3)
    assert any("EXIF orientation 6" in note for note in decoded.notes)


def test_content_not_extension_decides_the_format(faces_dir: Path) -> None:
    decoded = read_image_file(faces_dir / "people" / "deepface_id03" / "img47.jpg")
    assert decoded.format == "WEBP"
