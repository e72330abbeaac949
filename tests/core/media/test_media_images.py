"""Image decoding: every bad input gets its typed error; every good one comes out RGB and upright."""

from __future__ import annotations

import time

import numpy as np
import pytest
from media_samples import encode, gradient, png_declaring, skimage_photo
from PIL import Image
from uffizi.errors import CorruptMedia, InvalidInput, MediaTooLarge, UnsupportedMedia
from uffizi.media.images import decode_image, load_image, sniff_image
from uffizi.settings import Settings


# --- sniffing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "media_type"), [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("TIFF", "image/tiff"),
    ("BMP", "image/bmp"), ("GIF", "image/gif"),
])
def test_sniff_by_magic_bytes(fmt, media_type):
    assert sniff_image(encode(gradient(), fmt)[:32]) == media_type


def test_big_endian_tiff_is_sniffed():
    assert sniff_image(b"MM\x00*\x00\x00\x00\x08" + bytes(24)) == "image/tiff"


@pytest.mark.parametrize("head", [b"", b"hello world", b"<!DOCTYPE html><html>", b"BM" + bytes(30),
                                  b"RIFF\x00\x00\x00\x00WAVEfmt ", b"\x00" * 32])
def test_sniff_refuses_other_bytes(head):
    assert sniff_image(head) is None


# --- bad inputs -------------------------------------------------------------------------------
def _random_bytes() -> bytes:
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert sniff_image(data) is None
    return data


@pytest.mark.parametrize(("name", "content"), [
    ("notes.txt", b"just some text\n" * 20),
    ("noise.bin", _random_bytes()),
    ("photo.jpg", b"<!DOCTYPE html><html><body>not a photo</body></html>"),
])
def test_not_an_image_is_unsupported_media_listing_formats(write, settings, name, content):
    path = write(name, content)
    with pytest.raises(UnsupportedMedia) as info:
        load_image(path, settings=settings)
    assert info.value.code == "unsupported_media"
    assert "PNG, JPEG, WebP, TIFF, BMP" in str(info.value)
    assert "image/png" in info.value.details["supported"]


def test_extension_does_not_matter(write, settings):
    path = write("really_a_png.jpg", encode(gradient(), "PNG"))
    _, meta = decode_image(path, settings=settings)
    assert meta["format"] == "PNG"


@pytest.mark.parametrize(("fmt", "keep"), [("PNG", 0.5), ("JPEG", 0.5), ("PNG", 40 / 1e9), ("WEBP", 0.5)])
def test_truncated_files_are_corrupt_media(write, settings, fmt, keep):
    data = encode(Image.open(skimage_photo("astronaut.png")), fmt)
    cut = data[: max(33, int(len(data) * keep))]
    with pytest.raises(CorruptMedia) as info:
        load_image(write(f"cut.{fmt.lower()}", cut), settings=settings)
    assert info.value.code == "corrupt_media"


def test_decompression_bomb_is_refused_before_decoding(write, settings):
    path = write("bomb.png", png_declaring(50_000, 50_000))
    started = time.perf_counter()
    with pytest.raises(MediaTooLarge) as info:
        load_image(path, settings=settings)
    assert time.perf_counter() - started < 2
    message = str(info.value)
    assert "50000x50000" in message and "2,500,000,000" in message
    assert "100,000,000" in message and "UFFIZI_MAX_IMAGE_PIXELS" in message
    assert info.value.details["pixels"] == 2_500_000_000


def test_low_pixel_limit_refuses_a_normal_image(tmp_path):
    tight = Settings(home=tmp_path, max_image_pixels=10_000)
    with pytest.raises(MediaTooLarge, match="UFFIZI_MAX_IMAGE_PIXELS"):
        load_image(skimage_photo("rocket.jpg"), settings=tight)
    with pytest.raises(MediaTooLarge):  # the in-process paths respect it too
        load_image(np.zeros((200, 200, 3), np.uint8), settings=tight)


def test_a_bomb_under_the_pixel_limit_hits_the_memory_limit(write, tmp_path):
    roomy = Settings(home=tmp_path, max_image_pixels=10**10, decode_memory_mb=512)
    with pytest.raises(MediaTooLarge, match="UFFIZI_DECODE_MEMORY_MB"):
        load_image(write("bomb.png", png_declaring(30_000, 30_000)), settings=roomy)


def test_unsupported_variant_of_a_known_format(settings):
    with pytest.raises(UnsupportedMedia, match="TIFF variant"):  # 64-bit float RGB
        load_image(skimage_photo("multipage_rgb.tif"), settings=settings)


def test_missing_file_is_invalid_input(tmp_path, settings):
    with pytest.raises(InvalidInput, match="no such file"):
        load_image(tmp_path / "nope.png", settings=settings)


def test_bad_arrays_are_invalid_input():
    with pytest.raises(InvalidInput):
        load_image(np.zeros((4, 4, 5), np.uint8))


# --- good inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "BMP"])
def test_lossless_formats_round_trip_exactly(write, settings, fmt):
    src = gradient()
    params = {"lossless": True} if fmt == "WEBP" else {}
    out = load_image(write(f"g.{fmt.lower()}", src, fmt, **params), settings=settings)
    assert out.mode == "RGB" and out.size == src.size
    np.testing.assert_array_equal(np.asarray(out), np.asarray(src))


def test_jpeg_and_bytes(settings):
    data = encode(gradient(), "JPEG", quality=95)
    out = np.asarray(load_image(data, settings=settings), dtype=np.int16)
    assert np.abs(out - np.asarray(gradient(), dtype=np.int16)).mean() < 3


def test_rgba_is_composited_on_white(write, settings):
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    out = np.asarray(load_image(write("a.png", rgba), settings=settings))
    assert tuple(out[5, 5]) == (255, 255, 255) and tuple(out[0, 0]) == (0, 0, 255)


def test_palette_with_transparency_and_grayscale_alpha(write, settings):
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.info["transparency"] = 0
    assert tuple(np.asarray(load_image(write("p.png", pal), settings=settings))[3, 3]) == (10, 200, 30)
    la = Image.new("LA", (8, 8), (0, 128))
    out = np.asarray(load_image(write("la.png", la), settings=settings))
    assert 120 <= out[0, 0, 0] <= 135  # black at half alpha over white


def test_16_bit_grayscale_is_stretched_to_8_bit(write, settings):
    a = np.linspace(1000, 5000, 64 * 32).reshape(32, 64).astype(np.uint16)
    out, meta = decode_image(write("deep.png", Image.fromarray(a)), settings=settings)
    assert meta["mode"] == "I;16" and meta["scaled_from"] == [1000.0, 5000.0]
    assert out[0, 0].tolist() == [0, 0, 0] and out[-1, -1].tolist() == [255, 255, 255]


def test_float_tiff_and_1_bit(write, settings):
    f = Image.fromarray(np.linspace(-1, 1, 100, dtype=np.float32).reshape(10, 10), "F")
    out = np.asarray(load_image(write("f.tiff", f), settings=settings))
    assert out.min() == 0 and out.max() == 255
    one = Image.new("1", (9, 9), 1)
    assert np.asarray(load_image(write("one.png", one), settings=settings)).min() == 255


def test_cmyk_jpeg(write, settings):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    out, meta = decode_image(write("cmyk.jpg", cmyk, "JPEG"), settings=settings)
    assert meta["mode"] == "CMYK"
    r, g, b = out[8, 8].tolist()
    assert r > 240 and g < 15 and b < 15


def test_exif_orientation_6_is_rotated_upright(write, settings):
    src = Image.new("RGB", (40, 20), (0, 0, 255))
    src.paste((255, 0, 0), (0, 0, 10, 10))  # red square at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be turned 90 degrees clockwise to view
    out, meta = decode_image(write("rot.jpg", src, "JPEG", exif=exif, quality=95), settings=settings)
    assert out.shape == (40, 20, 3)  # width 20, height 40
    assert out[3, 16, 0] > 200 and out[3, 16, 2] < 60  # red now at the top-right
    assert out[36, 3, 2] > 200  # blue elsewhere
    assert meta["orientation"] == 6 and meta["size"] == [40, 20]


def test_exif_camera_datetime_and_gps_in_meta(write, settings):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Canon", "EOS R5", "2024:01:02 03:04:05"
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 46.0, 12.0), 3: "W", 4: (11.0, 15.0, 0.0),
                                 6: 50.5})
    _, meta = decode_image(write("cam.jpg", gradient(), "JPEG", exif=exif), settings=settings)
    assert meta["exif"]["make"] == "Canon" and meta["exif"]["model"] == "EOS R5"
    assert meta["exif"]["datetime"] == "2024:01:02 03:04:05"
    assert meta["exif"]["gps"] == {"lat": 43.77, "lon": -11.25, "alt": 50.5}


def test_multipage_tiff_and_animated_gif_give_the_first_page(write, settings):
    pages = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    path = write("two.tiff", pages[0], "TIFF", save_all=True, append_images=pages[1:])
    first, meta = decode_image(path, settings=settings)
    second, _ = decode_image(path, settings=settings, page=1)
    assert meta["pages"] == 2 and first[0, 0].tolist() == [255, 0, 0]
    assert second[0, 0].tolist() == [0, 255, 0]
    gif, meta = decode_image(skimage_photo("no_time_for_that_tiny.gif"), settings=settings)
    assert meta["animated"] is True and meta["pages"] > 1 and gif.ndim == 3


@pytest.mark.parametrize(("name", "size"), [
    ("astronaut.png", (512, 512)), ("chelsea.png", (451, 300)), ("rocket.jpg", (640, 427)),
])
def test_real_photos(settings, name, size):
    path = skimage_photo(name)
    out = load_image(path, settings=settings)
    assert out.size == size and out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(Image.open(path).convert("RGB")))


def test_in_memory_images_are_converted_in_process():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(load_image(rgba)).min() == 255
    gray = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert np.asarray(load_image(gray)).shape == (4, 4, 3)
    unit = np.full((2, 2), 0.5, np.float32)
    assert np.asarray(load_image(unit))[0, 0, 0] == 128
    deep = np.array([[0, 4095]], np.uint16)
    assert np.asarray(load_image(deep))[0].tolist() == [[0, 0, 0], [255, 255, 255]]
