"""The model doctor: what a Florence-2 checkpoint is, and what in it will break at run time.

`diagnose(source)` reads a checkpoint (preset, folder, cache name or hub id) without running
it: the architecture, parameter counts by part (counted on the meta device), the stored
weights (dtypes, tensors missing or of the wrong shape, read from the safetensors headers),
tokenizer sanity (location tokens, task markers, `<image>` and bos/eos/pad ids agreeing with
the config) and processor settings (image size, `image_seq_length`, `post_processor_config`).
Problems make `uffizi model info` exit non-zero; warnings do not.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from uffizi.model.layout import (
    guess_counterpart,
    is_remote_code,
    missing_files,
    read_config,
    remote_code_error,
)
from uffizi.settings import Settings, get_settings

REQUIRED_MARKERS = ("<od>", "</od>", "<ocr>", "</ocr>", "<cap>", "</cap>", "<poly>", "</poly>",
                    "<sep>", "<region_cap>", "</region_cap>")
POST_PROCESSOR_KEYS = ("ocr", "phrase_grounding", "pure_text", "description_with_bboxes",
                       "description_with_polygons", "polygons", "bboxes",
                       "description_with_bboxes_or_polygons")


@dataclass
class DoctorReport:
    source: str
    path: str
    random_weights: bool = False
    architecture: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    processor: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def diagnose(source: str, settings: Settings | None = None) -> DoctorReport:
    """Diagnose a preset, folder, cache name or hub id (raises `RemoteCodeModel` and the
    other typed errors `resolve_model` raises for sources that cannot be found at all)."""
    from uffizi.model.sources import resolve_model

    settings = settings or get_settings()
    folder = Path(source).expanduser()
    if folder.is_dir():  # a broken folder is diagnosed, not refused
        return diagnose_folder(folder, source)
    resolved = resolve_model(source, settings)
    if resolved.local:
        return diagnose_folder(Path(resolved.path_or_id), source)
    folder = _hub_metadata(resolved.path_or_id, resolved.revision, settings)
    return diagnose_folder(folder, source, hub=(resolved.path_or_id, resolved.revision))


def _hub_metadata(repo_id: str, revision: str | None, settings: Settings) -> Path:
    """The small files of a hub checkpoint (configs, tokenizer), not its weights."""
    from huggingface_hub import snapshot_download

    from uffizi.errors import ModelLoadError
    from uffizi.model.cache import hub_offline

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=hub_offline(settings),
                                      allow_patterns=["*.json", "*.txt", "*.py"]))
    except Exception as exc:  # noqa: BLE001 - one typed error for every hub failure
        raise ModelLoadError(f"cannot read {repo_id!r} from the hub: {exc}") from exc


def diagnose_folder(folder: Path, source: str | None = None, *,
                    hub: tuple[str, str | None] | None = None) -> DoctorReport:
    """Diagnose a checkpoint folder; `hub` = (repo id, revision) when the folder holds only the
    small files of a hub checkpoint and the weights' headers are to be read from the hub."""
    from uffizi.model.tiny import read_marker

    folder = Path(folder)
    report = DoctorReport(source=source or str(folder), path=str(folder.resolve()))
    config = read_config(folder)
    if is_remote_code(folder, config):
        raise remote_code_error(report.source, guess_counterpart(config or {}))
    marker = read_marker(folder)
    report.random_weights = bool(marker and marker.get("random_weights"))
    if report.random_weights:
        report.warnings.append(f"random weights (preset {marker.get('preset')!r}): outputs are meaningless")
    for name in missing_files(folder):
        if hub and "(weights" in name:
            continue
        report.problems.append(f"missing file: {name}")
    if config is None:
        report.problems.append("config.json is missing or not JSON: nothing else can be checked")
        return report
    fconfig = _architecture(config, report)
    if fconfig is None:
        return report
    _weights(folder, fconfig, report, hub)
    _tokenizer(folder, fconfig, report)
    _processor(folder, fconfig, report)
    return report


def _architecture(config: dict[str, Any], report: DoctorReport):
    from transformers import Florence2Config

    if config.get("model_type") != "florence2":
        report.problems.append(f"model_type is {config.get('model_type')!r}, not 'florence2'")
        return None
    try:
        fc = Florence2Config.from_dict(config)
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"config.json does not make a Florence2Config: {exc}")
        return None
    v, t = fc.vision_config, fc.text_config
    report.architecture = {
        "model_type": fc.model_type, "vision_embed_dim": list(v.embed_dim), "vision_depths": list(v.depths),
        "vision_heads": list(v.num_heads), "window_size": v.window_size,
        "projection_dim": v.projection_dim, "d_model": t.d_model, "encoder_layers": t.encoder_layers,
        "decoder_layers": t.decoder_layers, "attention_heads": t.encoder_attention_heads,
        "ffn_dim": t.encoder_ffn_dim, "vocab_size": t.vocab_size,
        "max_position_embeddings": t.max_position_embeddings,
        "max_new_tokens_limit": t.max_position_embeddings - 1, "image_token_id": fc.image_token_id,
    }
    if v.projection_dim != t.d_model:
        report.problems.append(f"vision projection_dim {v.projection_dim} != text d_model {t.d_model}")
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        if getattr(t, name, None) is None:
            report.problems.append(f"text_config.{name} is not set")
    return fc


def _weights(folder: Path, fc, report: DoctorReport, hub: tuple[str, str | None] | None = None) -> None:
    from uffizi.model.presets import meta_model, parameter_counts

    model = meta_model(fc)
    report.parameters = parameter_counts(model)
    stored = _hub_tensors(*hub, report) if hub else _stored_tensors(folder, report)
    if stored is None:
        return
    if not stored:
        report.warnings.append("weights are not in safetensors format: tensors not inspected")
        return
    groups: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    expected = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    missing = [names[0] for names in groups.values() if not any(n in stored for n in names)]
    param_names = {n for names in groups.values() for n in names}
    missing += [n for n in expected if n not in param_names and n not in stored]  # buffers
    wrong = [f"{n} {stored[n][1]} (expected {list(expected[n])})" for n in stored
             if n in expected and tuple(stored[n][1]) != expected[n]]
    unexpected = sorted(set(stored) - set(expected))
    dtypes: dict[str, int] = {}
    for dtype, shape in stored.values():
        dtypes[dtype] = dtypes.get(dtype, 0) + math.prod(shape)
    report.weights = {"tensors": len(stored), "values": sum(dtypes.values()), "dtypes": dtypes,
                      "missing": sorted(missing), "wrong_shape": wrong, "unexpected": unexpected}
    if missing:
        report.problems.append(f"{len(missing)} weight tensors missing (e.g. {missing[0]})")
    if wrong:
        report.problems.append(f"{len(wrong)} weight tensors have the wrong shape (e.g. {wrong[0]})")
    if unexpected:
        report.warnings.append(f"{len(unexpected)} stored tensors the model does not use (e.g. {unexpected[0]})")


def _hub_tensors(repo_id: str, revision: str | None, report: DoctorReport):
    """name -> (dtype, shape) from the safetensors headers on the hub (a few KB, no weights)."""
    from huggingface_hub import get_safetensors_metadata

    try:
        meta = get_safetensors_metadata(repo_id, revision=revision)
    except Exception as exc:  # noqa: BLE001
        report.warnings.append(f"weights not inspected: cannot read their headers from the hub ({exc})")
        return None
    return {name: (info.dtype, list(info.shape)) for fm in meta.files_metadata.values()
            for name, info in fm.tensors.items()}


def _stored_tensors(folder: Path, report: DoctorReport | None = None
                    ) -> dict[str, tuple[str, list[int]]] | None:
    """name -> (dtype, shape) from the safetensors headers; {} for .bin; None if absent or
    damaged (a damaged index or header is a problem in `report`: a half-copied file)."""
    report = report or DoctorReport(source=str(folder), path=str(folder))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            report.problems.append(f"{index.name} cannot be read ({type(exc).__name__}: {exc})")
            return None
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        return {} if any(folder.glob("pytorch_model*.bin")) else None
    out: dict[str, tuple[str, list[int]]] = {}
    damaged = False
    for name in files:
        if not (folder / name).is_file():
            continue
        try:
            out.update(_safetensors_header(folder / name))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            report.problems.append(f"{name} is damaged: its safetensors header cannot be read "
                                   f"({exc}); copy the file again")
            damaged = True
    return None if damaged else out


def _safetensors_header(path: Path) -> dict[str, tuple[str, list[int]]]:
    with open(path, "rb") as fh:
        prefix = fh.read(8)
        size = int.from_bytes(prefix, "little")
        if len(prefix) < 8 or size > path.stat().st_size - 8:
            raise ValueError("the file is shorter than its header says")
        header = json.loads(fh.read(size))
    return {k: (v["dtype"], list(v["shape"])) for k, v in header.items() if k != "__metadata__"}


def _tokenizer(folder: Path, fc, report: DoctorReport) -> None:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder)
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"the tokenizer does not load: {exc}")
        return
    t = fc.text_config
    vocab = len(tok)
    locs_bad = [f"<loc_{i}>" for i in range(1000)
                if tok.encode(f"<loc_{i}>", add_special_tokens=False) != [tok.convert_tokens_to_ids(f"<loc_{i}>")]
                or tok.convert_tokens_to_ids(f"<loc_{i}>") in (None, tok.unk_token_id)]
    markers_missing = [m for m in REQUIRED_MARKERS if len(tok.encode(m, add_special_tokens=False)) != 1]
    image_token = getattr(tok, "image_token", None)
    image_id = tok.convert_tokens_to_ids(image_token) if image_token else None
    ids = {"bos": (tok.bos_token_id, t.bos_token_id), "eos": (tok.eos_token_id, t.eos_token_id),
           "pad": (tok.pad_token_id, t.pad_token_id)}
    report.tokenizer = {
        "class": type(tok).__name__, "size": vocab, "model_vocab_size": t.vocab_size,
        "loc_tokens_ok": 1000 - len(locs_bad), "task_markers_missing": markers_missing,
        "image_token": image_token, "image_token_id": image_id,
        "special_ids": {k: {"tokenizer": a, "config": b} for k, (a, b) in ids.items()},
    }
    if vocab > t.vocab_size:
        report.problems.append(f"tokenizer has {vocab} tokens but the model only {t.vocab_size} embeddings")
    if locs_bad:
        report.problems.append(f"{len(locs_bad)} of the 1000 location tokens are missing or not single "
                               f"tokens (e.g. {locs_bad[0]}): boxes cannot be read")
    if markers_missing:
        report.problems.append(f"task markers missing from the tokenizer: {' '.join(markers_missing)}")
    if image_token is None:
        report.problems.append("the tokenizer declares no image_token (extra special token '<image>')")
    elif image_id != fc.image_token_id:
        report.problems.append(f"{image_token} is id {image_id} in the tokenizer but config.image_token_id "
                               f"is {fc.image_token_id}")
    for key, (a, b) in ids.items():
        if a != b:
            report.problems.append(f"{key} id differs: tokenizer {a}, config {b}")


def _processor(folder: Path, fc, report: DoctorReport) -> None:
    from transformers import AutoProcessor

    raw = {}
    for name in ("processor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            try:
                raw.update(json.loads((folder / name).read_text()))
            except (OSError, ValueError, TypeError) as exc:
                report.problems.append(f"{name} is not a JSON object ({exc})")
    image = raw.get("image_processor", raw)
    size = image.get("size") or {}
    height, width = size.get("height"), size.get("width")
    stride = math.prod(fc.vision_config.patch_stride)
    expected = (height // stride) * (width // stride) + 1 if height and width else None
    post = raw.get("post_processor_config")
    report.processor = {
        "image_size": [height, width], "image_seq_length": image.get("image_seq_length"),
        "expected_image_seq_length": expected, "image_mean": image.get("image_mean"),
        "image_std": image.get("image_std"), "rescale_factor": image.get("rescale_factor"),
        "post_processor_keys": sorted(post or {}),
    }
    if image.get("image_seq_length") != expected:
        report.problems.append(f"image_seq_length is {image.get('image_seq_length')} but a {height}x{width} "
                               f"image gives {expected} image features")
    missing = [k for k in POST_PROCESSOR_KEYS if k not in (post or {})]
    if missing:
        report.problems.append("post_processor_config lacks " + ", ".join(missing)
                               + ": post_process_generation fails ('Unsupported parse task') for those tasks")
    if not report.tokenizer or not raw:
        return  # the loader would only repeat the tokenizer / missing-file problems
    try:
        AutoProcessor.from_pretrained(folder)
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"AutoProcessor does not load the folder: {exc}")
