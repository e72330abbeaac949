"""Model sources for Florence-2: random-weight presets, local folders, the local model cache.

- `uffizi.model.presets`: the preset architectures (tiny, small, base-random, large-random)
- `uffizi.model.tiny`: builds a random-weight checkpoint folder for a preset
- `uffizi.model.sources`: `resolve_model(source, settings)`, what the engine loads
- `uffizi.model.cache`: the local model cache for air-gapped use (pull, import, verify)
- `uffizi.model.doctor`: checks a checkpoint's architecture, tokenizer and processor
- `uffizi.model.layout`: the files a loadable checkpoint needs; remote-code detection
- `uffizi.model.corpus`: the generated sentences the presets' tokenizer is trained on

Nothing here imports torch at import time.
"""
