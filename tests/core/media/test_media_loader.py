"""`ImageLoader` and its registration: frames from still images, every TIFF page a frame."""

from __future__ import annotations

import numpy as np
import pytest
from media_samples import encode, gradient, skimage_photo
from PIL import Image
from uffizi.contracts import Loader
from uffizi.errors import UnsupportedMedia
from uffizi.frames import Frame
from uffizi.media.loader import ImageLoader


def test_loader_contract():
    loader = ImageLoader()
    assert isinstance(loader, Loader) and loader.name == "image"
    assert {"image/png", "image/jpeg", "image/webp", "image/tiff", "image/bmp"} <= set(loader.media_types)
    assert loader.sniff(encode(gradient(), "PNG")[:64], "x.jpg") == "image/png"
    assert loader.sniff(b"<html>" + bytes(60), "x.png") is None


def test_one_frame_per_image_with_meta(settings):
    path = skimage_photo("rocket.jpg")
    frames = list(ImageLoader().load(path, settings=settings))
    assert len(frames) == 1
    frame = frames[0]
    assert isinstance(frame, Frame) and frame.size == (640, 427) and frame.index == 0
    assert frame.source == "rocket.jpg" and frame.full_size == (640, 427)
    assert frame.meta["format"] == "JPEG" and frame.meta["mode"] == "RGB"
    assert frame.geo is None


def test_gps_becomes_the_frame_geo(write, settings):
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 46.0, 12.0), 3: "E", 4: (11.0, 15.0, 0.0)})
    path = write("gps.jpg", gradient(), "JPEG", exif=exif)
    (frame,) = ImageLoader().load(path, settings=settings)
    assert frame.geo == {"gps": {"lat": 43.77, "lon": 11.25}}


def test_every_tiff_page_is_a_frame(write, settings):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    pages = [Image.new("RGB", (8, 6), c) for c in colours]
    path = write("stack.tiff", pages[0], "TIFF", save_all=True, append_images=pages[1:])
    loader = ImageLoader()
    assert loader.count(path) == 3
    frames = list(loader.load(path, settings=settings))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [tuple(f.image[0, 0]) for f in frames] == colours
    assert all(f.meta["pages"] == 3 for f in frames)


def test_animated_gif_is_one_frame(settings):
    path = skimage_photo("no_time_for_that_tiny.gif")
    assert ImageLoader().count(path) == 1
    frames = list(ImageLoader().load(path, settings=settings))
    assert len(frames) == 1 and frames[0].meta["animated"] is True


def test_frames_are_lazy_and_errors_typed(write, settings):
    path = write("fake.png", b"not a png at all" * 4)
    frames = ImageLoader().load(path, settings=settings)  # nothing decoded yet
    with pytest.raises(UnsupportedMedia):
        next(frames)


def test_builtin_plugin_registers_the_loader():
    from uffizi.builtin import media

    registered = []
    media.register_loaders(registered.append)
    assert [type(x) for x in registered] == [ImageLoader]
    assert np.asarray(gradient()).dtype == np.uint8
