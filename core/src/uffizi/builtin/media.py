"""Built-in plugin: the loaders for media Uffizi reads itself (still images, for now).

Images are sniffed by their magic bytes and decoded in the sandboxed child
(`uffizi.media.sandbox`); see `uffizi.media.loader.ImageLoader`.
"""

from __future__ import annotations

from uffizi import hookimpl


@hookimpl
def register_loaders(register):
    from uffizi.media.loader import ImageLoader

    register(ImageLoader())
