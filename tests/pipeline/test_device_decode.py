"""Decoding onto a device: the CPU decoder's pixels, notes, limits and errors, whichever decoder ran."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torchvision", reason="the device path needs torch and torchvision: pip install 'surasmart[torch]'")

import torch

from pipeline.decode import DecodedImage, decode_each, decode_image
from pipeline.device.decode import DeviceImage, decode_on_device, device_header
from pipeline.errors import CorruptImageError, EmptyImageError, ImageTooLargeError, UnsupportedImageError

CPU = torch.device("cpu")


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo(faces_dir: Path) -> Image.Image:
    return Image.open(faces_dir / "scenes" / "fr_two_people.jpg").convert("RGB")


def test_jpegs_decode_to_the_cpu_decoders_pixels(faces_dir: Path) -> None:
    photos = [p.read_bytes() for p in sorted((faces_dir / "scenes").glob("*.jpg"))]
    # All but mask_white.jpg (EXIF orientation 0, which only the CPU decoder's rules cover) go to the device.
    assert sum(1 for p in photos if device_header(p)[0]) == len(photos) - 1
    for ours, expected in zip(decode_on_device(photos, CPU), decode_each(photos), strict=True):
        assert isinstance(ours, DeviceImage) and not isinstance(expected, Exception)
        assert (ours.format, ours.width, ours.height) == (expected.format, expected.width, expected.height)
        np.testing.assert_array_equal(ours.pixels.numpy(), expected.pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_on_the_device(photo: Image.Image, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(photo.crop((0, 0, 300, 200)), "JPEG", quality=95, exif=exif.tobytes())
    assert device_header(data)[0] == orientation
    [ours] = decode_on_device([data], CPU)
    expected = decode_image(data)
    assert isinstance(ours, DeviceImage) and ours.notes == expected.notes
    np.testing.assert_array_equal(ours.pixels.numpy(), expected.pixels)


def test_other_images_fall_back_to_the_cpu_decoder(photo: Image.Image, faces_dir: Path) -> None:
    small = photo.resize((160, 120))
    photos = {
        "png": (faces_dir / "scenes" / "Tom_Hanks_54745.png").read_bytes(),
        "grey jpeg": _encode(small.convert("L"), "JPEG"),
        "cmyk jpeg": _encode(small.convert("CMYK"), "JPEG"),
        "rgba png": _encode(small.convert("RGBA"), "PNG"),
    }
    assert device_header(photos["grey jpeg"])[0] == 1 and device_header(photos["cmyk jpeg"]) == (0, 0)
    for name, ours, expected in zip(
        photos, decode_on_device(list(photos.values()), CPU), decode_each(list(photos.values())), strict=True
    ):
        assert isinstance(ours, DeviceImage) and not isinstance(expected, Exception), name
        assert (ours.format, ours.notes) == (expected.format, expected.notes), name
        np.testing.assert_array_equal(ours.pixels.numpy(), expected.pixels, err_msg=name)


def test_bad_photos_get_the_cpu_decoders_errors_and_spoil_nothing(photo: Image.Image) -> None:
    good = _encode(photo, "JPEG")
    photos = [b"", good, good[: len(good) // 2], b"not an image at all", good]
    found = decode_on_device(photos, CPU, max_pixels=photo.width * photo.height)
    kinds = [type(f) for f in found]
    assert kinds == [EmptyImageError, DeviceImage, CorruptImageError, UnsupportedImageError, DeviceImage]
    [refused] = decode_on_device([good], CPU, max_pixels=1000)
    assert isinstance(refused, ImageTooLargeError) and "limit" in str(refused)


def test_a_batch_keeps_the_cpu_decoders_memory_budget(photo: Image.Image) -> None:
    small, large = _encode(photo.resize((160, 120)), "JPEG"), _encode(photo, "JPEG")
    budget = device_header(small)[1] * 2 + device_header(large)[1] // 2  # the two small ones fit, the large not
    found = decode_on_device([large, small, _encode(photo.resize((160, 120)), "PNG")], CPU, max_batch_bytes=budget)
    expected = decode_each([large, small, _encode(photo.resize((160, 120)), "PNG")], max_batch_bytes=budget)
    assert [type(f) for f in found] == [ImageTooLargeError, DeviceImage, DeviceImage]
    assert [type(e) for e in expected] == [ImageTooLargeError, DecodedImage, DecodedImage]
    assert str(found[0]) == str(expected[0])
