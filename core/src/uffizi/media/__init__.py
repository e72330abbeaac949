"""Media in: the one sandbox for untrusted decoding and the image decoder built on it.

- `uffizi.media.sandbox`: `run_limited`, a child process with time and memory limits;
- `uffizi.media.images`: `sniff_image`, `decode_image`, `load_image`;
- `uffizi.media.loader`: `ImageLoader`, the built-in loader for still images.

Importing this package imports none of them; import the module you need.
"""
