"""Builds random-weight Florence-2 checkpoints that load exactly like the real ones.

`build_checkpoint(dir, preset, seed)` writes a folder that `AutoProcessor.from_pretrained` and
`Florence2ForConditionalGeneration.from_pretrained` load as they load
`florence-community/Florence-2-base`: a byte-level BPE tokenizer (BART layout) trained on
generated sentences plus the 1024 Florence-2 tokens and `<image>`, the real CLIP-style image
processor settings, the real post-processor config, a Florence-2 config from
`uffizi.model.presets` and seeded random weights. The weights are meaningless; the folder is
for tests and benchmarks and says so in its `uffizi.json` marker.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from uffizi.model.presets import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    Preset,
    florence_config,
    get_preset,
    padded_vocab_size,
)

MARKER = "uffizi.json"
BUILDER_VERSION = 1  # bump when a change to this module changes what it builds
RANDOM_WEIGHTS_NOTE = "random weights: outputs are meaningless"

# The tokens the original Florence-2 processor adds after BART's 50265, in its order.
TASK_MARKERS = (
    "<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>",
    "<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>",
    "</region_to_desciption>", "<proposal>", "</proposal>", "<poly>", "</poly>", "<and>",
)
LOC_TOKENS = tuple(f"<loc_{i}>" for i in range(1000))
FLORENCE_TOKENS = ("<od>", "</od>", "<ocr>", "</ocr>", *LOC_TOKENS, *TASK_MARKERS)
IMAGE_TOKEN = "<image>"
TEXT_WEIGHT_STD = 1.0
EOS_SCALE = 2.0

IMAGE_PROCESSOR: dict[str, Any] = {
    "do_resize": True, "size": {"height": 768, "width": 768}, "resample": 3,
    "do_center_crop": False, "crop_size": {"height": 768, "width": 768},
    "do_rescale": True, "rescale_factor": 1 / 255,
    "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    "do_convert_rgb": True, "image_seq_length": 577,
}

# Pronouns and generic words the real checkpoint never grounds to a box.
BANNED_GROUNDING_TOKENS = (
    "it", "I", "me", "mine", "you", "your", "yours", "he", "him", "his", "she", "her", "hers",
    "they", "them", "their", "theirs", "one", "oneself", "we", "us", "our", "ours", "its",
    "myself", "yourself", "himself", "herself", "itself", "ourselves", "yourselves",
    "themselves", "this", "that", "these", "those", "who", "whom", "whose", "which", "what",
    "all", "another", "any", "anybody", "anyone", "anything", "each", "everybody", "everyone",
    "everything", "few", "many", "nobody", "none", "several", "some", "somebody", "someone",
    "something", "each other", "one another", "the image", "image", "images", "the", "a", "an",
    "a group", "other objects", "lots", "a set",
)


def post_processor_config() -> dict[str, Any]:
    """The real checkpoints' `post_processor_config` (lower-case keys, as they ship them)."""
    return {
        "ocr": {
            "pattern": r"(.+?)<loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)>",
            "area_threshold": 0.0,
        },
        "phrase_grounding": {"banned_grounding_tokens": list(BANNED_GROUNDING_TOKENS)},
        "pure_text": {},
        "description_with_bboxes": {},
        "description_with_polygons": {},
        "polygons": {},
        "bboxes": {},
        "description_with_bboxes_or_polygons": {},
    }


@lru_cache(maxsize=1)
def _trained_bpe(vocab_size: int = 1022) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE trained on the generated sentences: (vocab, merges); <s> <pad> </s> <unk> first."""
    from tokenizers import ByteLevelBPETokenizer

    from uffizi.model.corpus import sentences

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        sentences(), vocab_size=vocab_size, min_frequency=1, show_progress=False,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
    )
    model = json.loads(bpe._tokenizer.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return dict(model["vocab"]), merges


def build_tokenizer(preset: Preset | str = "tiny"):
    """The fast BART tokenizer of a preset, with the Florence-2 tokens and `<image>`."""
    from transformers import AddedToken, BartTokenizer

    preset = get_preset(preset) if isinstance(preset, str) else preset
    vocab, merges = _trained_bpe()
    vocab = dict(vocab)
    if [vocab[t] for t in ("<s>", "<pad>", "</s>", "<unk>")] != [BOS_ID, PAD_ID, EOS_ID, 3]:
        raise RuntimeError("the trained BPE vocabulary does not start with <s> <pad> </s> <unk>")
    filler = 0
    while len(vocab) < preset.base_vocab - 1:  # unused entries up to <mask>, as in BART
        if f"unused{filler}" not in vocab:
            vocab[f"unused{filler}"] = len(vocab)
        filler += 1
    vocab["<mask>"] = len(vocab)
    tok = BartTokenizer(vocab=vocab, merges=merges, model_max_length=1024)
    tok.add_special_tokens({"extra_special_tokens": list(FLORENCE_TOKENS)})
    tok.add_tokens(AddedToken(IMAGE_TOKEN, special=True, normalized=False), special_tokens=True)
    # Pad to a multiple of 64 like the real conversion, but with real tokens, so every id the
    # (random) model can emit decodes.
    pad = padded_vocab_size(len(tok)) - len(tok)
    tok.add_tokens([AddedToken(f"<unused_{i}>", special=True, normalized=False) for i in range(pad)],
                   special_tokens=True)
    # `image_token` must be a named special token so it is saved and reloaded as one.
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        tok = BartTokenizer.from_pretrained(tmp, image_token=IMAGE_TOKEN)
    for key in ("is_local", "local_files_only"):  # loading details, not tokenizer settings
        tok.init_kwargs.pop(key, None)
    return tok


def build_processor(tokenizer):
    from transformers import CLIPImageProcessorPil, Florence2Processor

    image_processor = CLIPImageProcessorPil(**IMAGE_PROCESSOR)
    return Florence2Processor(
        image_processor=image_processor, tokenizer=tokenizer,
        post_processor_config=post_processor_config(),
    )


def build_model(preset: Preset | str, tokenizer, seed: int = 0):
    """The Florence-2 model of a preset with seeded random weights (same seed, same weights)."""
    import torch
    from transformers import Florence2ForConditionalGeneration

    preset = get_preset(preset) if isinstance(preset, str) else preset
    config = florence_config(preset, len(tokenizer), tokenizer.image_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Florence2ForConditionalGeneration(config)
        _spread_text_weights(model)
    model.eval()
    return model.to(getattr(torch, preset.dtype))


def _spread_text_weights(model, std: float = TEXT_WEIGHT_STD, eos_scale: float = EOS_SCALE) -> None:
    """Re-draw the language model's matrices so random greedy decoding is worth testing.

    With the usual init (std 0.02, tied embeddings) the decoder's first prediction is its own
    input, `</s>`: every answer is empty and ignores the image. With std 1 the answers depend
    on the image and the prompt and mix words with location tokens; a larger `</s>` embedding
    then ends them at varied lengths (tiny: 1 to ~60 tokens) instead of always running to
    `max_new_tokens`. The vision tower keeps its usual init. (base-random / large-random mostly
    repeat one token until `max_new_tokens`: fine for benchmarks, which fix lengths anyway;
    their logits stay finite in float16 and bfloat16.)
    """
    import torch

    lm = model.model.language_model
    with torch.no_grad():
        for param in lm.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, std)
        lm.shared.weight[EOS_ID] *= eos_scale


def generation_config():
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID,
        decoder_start_token_id=EOS_ID, do_sample=False, num_beams=1,
    )


def build_checkpoint(out_dir: Path, preset: str = "tiny", seed: int = 0) -> Path:
    """Write a random-weight Florence-2 checkpoint of `preset` into `out_dir`; return it."""
    import transformers

    spec = get_preset(preset)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(spec)
    processor = build_processor(tokenizer)
    model = build_model(spec, tokenizer, seed)
    model.generation_config = generation_config()
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a one-second build needs no progress bar
    try:
        model.save_pretrained(out)
        processor.save_pretrained(out)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    marker = {
        "preset": spec.name, "seed": seed, "random_weights": True, "note": RANDOM_WEIGHTS_NOTE,
        "builder": BUILDER_VERSION, "transformers": transformers.__version__,
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return out


def read_marker(model_dir: Path) -> dict[str, Any] | None:
    """The `uffizi.json` marker of a folder Uffizi built, or None."""
    path = Path(model_dir) / MARKER
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def example_inputs(task_token: str) -> str:
    """A prompt for any built-in task: the token alone, or with a phrase / a region."""
    from uffizi.tasks import get_task

    task = get_task(task_token)
    if task.needs_text:
        return f"{task.token}a red car"
    if task.needs_region:
        return f"{task.token}<loc_100><loc_150><loc_600><loc_700>"
    return task.token


def run_every_task(model_dir: Path, image=None, max_new_tokens: int = 20) -> dict[str, Any]:
    """Prompt, generate and post-process every built-in task on a checkpoint; raise on failure.

    A smoke test of a checkpoint's plumbing (tokens, processor config, post-processing), not of
    its answers. Returns {task token: parsed answer}.
    """
    import torch
    from transformers import AutoProcessor, Florence2ForConditionalGeneration

    from uffizi.tasks import BUILTIN_TASKS

    processor = AutoProcessor.from_pretrained(model_dir)
    model = Florence2ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    if image is None:
        from PIL import Image

        image = Image.new("RGB", (320, 240), (120, 160, 200))
    results: dict[str, Any] = {}
    for task in BUILTIN_TASKS:
        inputs = processor(text=example_inputs(task.token), images=image, return_tensors="pt")
        with torch.inference_mode():
            ids = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        text = processor.batch_decode(ids, skip_special_tokens=False)[0]
        results[task.token] = processor.post_process_generation(
            text, task=task.token, image_size=(image.width, image.height)
        )[task.token]
    return results
