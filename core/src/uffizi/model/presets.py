"""The random-weight model presets: tiny, small, base-random, large-random.

A preset is the architecture of a Florence-2 checkpoint Uffizi builds itself (DaViT vision
tower + BART encoder-decoder), with random weights. `tiny` runs every task in well under a
second on a CPU and is what every test uses; `small` is sized so the vision tower is most of
the per-image cost, as in the real model; `base-random` and `large-random` are the real
Florence-2-base / -large architectures, for GPU benchmarks. This module only describes them;
`uffizi.model.tiny` builds them and `parameter_counts` counts them without allocating memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Token ids shared by every preset (BART layout: <s> <pad> </s> <unk> first).
BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
# Decoder positions: a 1024-token answer plus the start token must fit (BART's learned
# positions have no room past max_position_embeddings).
MAX_POSITIONS = 1056


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    embed_dim: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]
    num_groups: tuple[int, int, int, int]
    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    ffn_dim: int
    # Size of the byte-level BPE vocabulary before the 1024 Florence-2 tokens and <image>;
    # what training on the generated sentences does not reach is filled with unused entries,
    # so base-random / large-random have the real checkpoints' token ids.
    base_vocab: int = 1023
    dtype: str = "float32"  # how the weights are stored
    window_size: int = 12

    def vision_config(self) -> dict[str, Any]:
        return {
            "embed_dim": list(self.embed_dim),
            "depths": list(self.depths),
            "num_heads": list(self.num_heads),
            "num_groups": list(self.num_groups),
            "window_size": self.window_size,
            "projection_dim": self.d_model,
            "drop_path_rate": 0.0 if self.name in ("tiny", "small") else 0.1,
        }

    def text_config(self, vocab_size: int) -> dict[str, Any]:
        return {
            "model_type": "bart",
            "vocab_size": vocab_size,
            "d_model": self.d_model,
            "encoder_layers": self.encoder_layers,
            "decoder_layers": self.decoder_layers,
            "encoder_attention_heads": self.attention_heads,
            "decoder_attention_heads": self.attention_heads,
            "encoder_ffn_dim": self.ffn_dim,
            "decoder_ffn_dim": self.ffn_dim,
            "max_position_embeddings": MAX_POSITIONS,
            "bos_token_id": BOS_ID,
            "pad_token_id": PAD_ID,
            "eos_token_id": EOS_ID,
            "decoder_start_token_id": EOS_ID,
            "forced_bos_token_id": None,
            "forced_eos_token_id": None,
            "scale_embedding": False,
            "tie_word_embeddings": True,
        }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tiny", "~1M parameters; what every test runs on",
            embed_dim=(16, 32, 64, 128), depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8),
            num_groups=(1, 2, 4, 8), d_model=64, encoder_layers=1, decoder_layers=1,
            attention_heads=4, ffn_dim=256,
        ),
        Preset(
            "small", "~20M parameters, vision-bound like the real model; CPU benchmarks",
            embed_dim=(64, 128, 256, 512), depths=(1, 1, 3, 1), num_heads=(2, 4, 8, 16),
            num_groups=(2, 4, 8, 16), d_model=256, encoder_layers=3, decoder_layers=3,
            attention_heads=4, ffn_dim=1024,
        ),
        Preset(
            "base-random", "Florence-2-base architecture (0.23B); GPU benchmarks",
            embed_dim=(128, 256, 512, 1024), depths=(1, 1, 9, 1), num_heads=(4, 8, 16, 32),
            num_groups=(4, 8, 16, 32), d_model=768, encoder_layers=6, decoder_layers=6,
            attention_heads=12, ffn_dim=3072, base_vocab=50265, dtype="float16",
        ),
        Preset(
            "large-random", "Florence-2-large architecture (0.77B); GPU benchmarks",
            embed_dim=(256, 512, 1024, 2048), depths=(1, 1, 9, 1), num_heads=(8, 16, 32, 64),
            num_groups=(8, 16, 32, 64), d_model=1024, encoder_layers=12, decoder_layers=12,
            attention_heads=16, ffn_dim=4096, base_vocab=50265, dtype="float16",
        ),
    )
}


def get_preset(name: str) -> Preset:
    from uffizi.errors import ModelNotFound

    try:
        return PRESETS[name]
    except KeyError:
        raise ModelNotFound(
            f"unknown model preset {name!r}; use one of: {', '.join(PRESETS)}"
        ) from None


def padded_vocab_size(n_tokens: int, multiple: int = 64) -> int:
    """The embedding rows for `n_tokens` tokens, padded like the real conversion (to 64)."""
    return -(-n_tokens // multiple) * multiple


def florence_config(preset: Preset, vocab_size: int, image_token_id: int):
    """The `Florence2Config` of a preset for a tokenizer of `vocab_size` tokens."""
    from transformers import Florence2Config

    return Florence2Config(
        vision_config=preset.vision_config(),
        text_config=preset.text_config(vocab_size),
        image_token_id=image_token_id,
        bos_token_id=BOS_ID,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=EOS_ID,
        tie_word_embeddings=True,
    )


def parameter_counts(model) -> dict[str, int]:
    """Parameters of a Florence-2 model by part (shared embeddings counted once)."""
    seen: set[int] = set()
    counts = {"vision": 0, "projector": 0, "language": 0, "total": 0}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        part = ("vision" if "vision_tower" in name else
                "projector" if "multi_modal_projector" in name else "language")
        counts[part] += n
        counts["total"] += n
    return counts


def meta_model(config):
    """A Florence-2 model of `config` on the meta device: shapes only, no memory, milliseconds."""
    import torch
    from transformers import Florence2ForConditionalGeneration

    with torch.device("meta"):
        return Florence2ForConditionalGeneration(config)


def preset_parameter_counts(name: str, vocab_size: int | None = None) -> dict[str, int]:
    """Count a preset's parameters without building it."""
    preset = get_preset(name)
    vocab = vocab_size or padded_vocab_size(preset.base_vocab + 1025)
    config = florence_config(preset, vocab, image_token_id=preset.base_vocab + 1024)
    return parameter_counts(meta_model(config))
