"""Loading Florence-2: source -> model + processor on the right device, dtype and attention.

Only the native transformers classes (`Florence2ForConditionalGeneration`, `AutoProcessor`).
Device `auto` picks CUDA, then Apple MPS, then CPU; dtype `auto` picks bfloat16 on CUDA
devices that support it, else float16 on GPUs, float32 on CPU. The attention implementation
is sdpa where the model accepts it, else eager.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from uffizi.errors import ModelLoadError, UffiziError
from uffizi.settings import Settings

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16", "float64")


@dataclass
class LoadedModel:
    model: Any
    processor: Any
    device: Any
    dtype: Any
    model_id: str
    revision: str | None
    attn_implementation: str
    random_weights: bool = False


def pick_device(name: str):
    """The torch device for the `device` setting; a device this machine lacks is a typed error."""
    import torch

    if name != "auto":
        try:
            device = torch.device(name)
        except (RuntimeError, ValueError):
            raise ModelLoadError(
                f"unknown device {name!r} (UFFIZI_DEVICE / --device): use auto, cpu, cuda, "
                "cuda:N or mps"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(
                f"device {name!r} asked for, but torch sees no CUDA GPU on this machine; "
                "use --device cpu (or UFFIZI_DEVICE=auto)"
            )
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ModelLoadError(
                f"device {name!r} asked for, but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
        mps = getattr(torch.backends, "mps", None)
        if device.type == "mps" and not (mps and mps.is_available()):
            raise ModelLoadError(f"device {name!r} asked for, but Apple MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(name: str, device):
    import torch

    if name != "auto":
        if name not in DTYPES:
            raise ModelLoadError(f"unknown dtype {name!r}: use auto, {', '.join(DTYPES)}")
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def load_model(source: str, settings: Settings, *, revision: str | None = None) -> LoadedModel:
    """Resolve `source` (preset, cache name, folder or hub id) and load it."""
    from transformers import AutoProcessor, Florence2ForConditionalGeneration

    from uffizi.model.sources import resolve_model

    resolved = resolve_model(source, settings, revision=revision or settings.model_revision)
    device = pick_device(settings.device)
    dtype = pick_dtype(settings.dtype, device)
    kwargs: dict[str, Any] = {"revision": resolved.revision} if not resolved.local else {}
    if settings.offline or resolved.local:
        kwargs["local_files_only"] = True
    target = str(resolved.path_or_id)
    try:
        processor = AutoProcessor.from_pretrained(target, **kwargs)
    except UffiziError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one typed error
        raise ModelLoadError(
            f"cannot load the processor of {source!r}: {exc}. Check the folder has the "
            f"tokenizer and processor files (`uffizi model info {source}` lists what is wrong)"
        ) from exc
    attn = settings.attn_implementation
    candidates = ["sdpa", "eager"] if attn == "auto" else [attn]
    model, impl, errors = None, "", []
    for impl in candidates:
        try:
            model = Florence2ForConditionalGeneration.from_pretrained(
                target, dtype=dtype, attn_implementation=impl, **kwargs
            )
            break
        except Exception as exc:  # noqa: BLE001 - try the next implementation, then report all
            errors.append(f"{impl}: {exc}")
    if model is None:
        raise ModelLoadError(f"cannot load the model weights of {source!r}: {'; '.join(errors)}")
    try:
        model.to(device)
    except Exception as exc:  # noqa: BLE001 - out of GPU memory, a driver error
        raise ModelLoadError(f"cannot move {source!r} to {device}: {exc}") from exc
    model.eval()
    commit = getattr(model.config, "_commit_hash", None)
    log.info("loaded %s (%s) on %s as %s, attention %s", source, commit, device, dtype, impl)
    return LoadedModel(
        model=model, processor=processor, device=device, dtype=dtype,
        model_id=resolved.display_name or source, revision=commit or resolved.revision,
        attn_implementation=impl, random_weights=resolved.random_weights,
    )
