"""The Engine: every Florence-2 task, typed, batched, with shared image encoding and scores.

- `run(image, task, text=, region=)` is the generic call; typed methods (`caption`, `detect`,
  `ground`, `segment`, `ocr`, `describe_region`, `classify_region`, `read_region`) wrap it.
- `run_many(image, requests)` runs several tasks on one image and encodes the image once:
  the vision features do not depend on the prompt, so they are computed once and scattered
  into each prompt's embedding.
- Concurrent calls are batched by one thread (`uffizi.engine.batcher`): images of a batch go
  through the vision tower together, then (image, task) pairs are grouped by generation length
  so short answers do not wait on long ones; a request's answer in a batch equals its answer
  alone (right padding with an attention mask; checked in float64 by the tests).
- Answers are parsed into one `TaskResult` with scores (`uffizi.engine.parsing`) and checked
  for degenerate output (`uffizi.engine.guards`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from uffizi.engine.answers import merge_results, to_detections
from uffizi.engine.batcher import Batcher, WorkItem
from uffizi.engine.guards import check_output
from uffizi.engine.loading import LoadedModel, load_model
from uffizi.engine.parsing import (
    clean,
    decode_sequence,
    parse_instances,
    pure_text,
    score_instances,
    text_score,
)
from uffizi.engine.prompts import build_prompt
from uffizi.engine.requests import TaskRequest
from uffizi.errors import InferenceError, InvalidInput, UffiziError, UnknownAdapter
from uffizi.results import Detection, TaskResult, Timings
from uffizi.settings import Settings, get_settings
from uffizi.tasks import FlorenceTask, ResultShape, TaskTable, builtin_table


@dataclass
class _Pair:
    index: int
    task: FlorenceTask
    request: TaskRequest
    prompt_ids: list[int]
    max_new: int
    min_new: int
    region: list[float] | None


@dataclass
class _Image:
    pixel_values: Any  # 3 x H x W tensor, model dtype
    size: tuple[int, int]
    pairs: list[_Pair]
    results: list[TaskResult | None] = field(default_factory=list)
    features: Any = None
    vision_ms: float = 0.0
    error: BaseException | None = None


class Engine:
    """One per process. Thread-safe: every model call happens on the batcher thread."""

    def __init__(self, loaded: LoadedModel, settings: Settings | None = None,
                 tasks: TaskTable | None = None) -> None:
        self.settings = settings or get_settings()
        self.loaded = loaded
        self.model = loaded.model
        self.processor = loaded.processor
        self.tokenizer = loaded.processor.tokenizer
        self.tasks = tasks or builtin_table()
        self.device, self.dtype = loaded.device, loaded.dtype
        cfg = self.model.config
        self.image_token_id = cfg.image_token_id
        self.bos_id = self.tokenizer.bos_token_id
        self.eos_id = self.tokenizer.eos_token_id
        self.pad_id = self.tokenizer.pad_token_id
        # BART's learned decoder positions: the longest answer this checkpoint can generate
        self.max_new_limit: int | None = getattr(
            getattr(cfg, "text_config", None), "max_position_embeddings", None)
        self.post_config = getattr(self.processor, "post_processor_config", None) or {}
        self._embed = self.model.get_input_embeddings()
        self._prompt_cache: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self.batcher = Batcher(
            self._process, max_batch_size=self.settings.max_batch_size,
            max_wait_ms=self.settings.max_wait_ms,
        )

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, source: str, *, revision: str | None = None, **overrides: Any) -> Engine:
        """Load `source` (hub id, folder, cache name or preset); keyword arguments override
        settings (device="cpu", dtype="float64", max_batch_size=16, ...)."""
        settings = get_settings().model_copy(update={"model": source, **overrides})
        return cls(load_model(source, settings, revision=revision), settings)

    def close(self) -> None:
        self.batcher.close()

    @property
    def info(self) -> dict[str, Any]:
        return {
            "model": self.loaded.model_id, "revision": self.loaded.revision,
            "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
            "attn_implementation": self.loaded.attn_implementation,
            "random_weights": self.loaded.random_weights,
            "max_batch_size": self.batcher.max_batch_size,
        }

    # --- public API --------------------------------------------------------------------------
    def run(self, image: Any, task: str | FlorenceTask, *, text: str | None = None,
            region: list[float] | None = None, **generation: Any) -> TaskResult:
        """Run one task on one image. `generation`: max_new_tokens, min_new_tokens, adapter."""
        name = task.token if isinstance(task, FlorenceTask) else task
        req = TaskRequest(task=name, text=text, region=region, **generation)
        return self.run_many(image, [req])[0]

    def run_many(self, image: Any, requests: list[TaskRequest | dict]) -> list[TaskResult]:
        """Several tasks on one image, sharing one image encoding."""
        return self.submit(image, requests).result()

    def submit(self, image: Any, requests: list[TaskRequest | dict]):
        """Like `run_many` but returns a Future at once (for callers that overlap work)."""
        prepared = self._prepare(image, requests)
        return self.batcher.submit(WorkItem(payload=prepared, size=len(prepared.pairs)))

    def caption(self, image: Any, *, detail: str = "brief") -> TaskResult:
        tokens = {"brief": "<CAPTION>", "detailed": "<DETAILED_CAPTION>",
                  "more": "<MORE_DETAILED_CAPTION>"}
        if detail not in tokens:
            raise ValueError(f"detail must be one of {sorted(tokens)}")
        return self.run(image, tokens[detail])

    def detect(self, image: Any, *, kind: str = "objects",
               classes: list[str] | None = None) -> TaskResult:
        """Objects (`<OD>`), dense regions, proposals, or open-vocabulary `classes` (one task
        per class over one image encoding, merged into one result labelled by class)."""
        if classes:
            reqs = [TaskRequest(task="<OPEN_VOCABULARY_DETECTION>", text=c) for c in classes]
            return merge_results(self.run_many(image, reqs), labels=classes)
        tokens = {"objects": "<OD>", "dense": "<DENSE_REGION_CAPTION>",
                  "proposals": "<REGION_PROPOSAL>"}
        if kind not in tokens:
            raise ValueError(f"kind must be one of {sorted(tokens)}")
        return self.run(image, tokens[kind])

    def ground(self, image: Any, phrase: str) -> TaskResult:
        return self.run(image, "<CAPTION_TO_PHRASE_GROUNDING>", text=phrase)

    def segment(self, image: Any, *, expression: str | None = None,
                region: list[float] | None = None) -> TaskResult:
        if (expression is None) == (region is None):
            raise ValueError("segment needs exactly one of expression= or region=")
        if expression is not None:
            return self.run(image, "<REFERRING_EXPRESSION_SEGMENTATION>", text=expression)
        return self.run(image, "<REGION_TO_SEGMENTATION>", region=region)

    def ocr(self, image: Any, *, regions: bool = False) -> TaskResult:
        return self.run(image, "<OCR_WITH_REGION>" if regions else "<OCR>")

    def describe_region(self, image: Any, region: list[float]) -> TaskResult:
        return self.run(image, "<REGION_TO_DESCRIPTION>", region=region)

    def classify_region(self, image: Any, region: list[float]) -> TaskResult:
        return self.run(image, "<REGION_TO_CATEGORY>", region=region)

    def read_region(self, image: Any, region: list[float]) -> TaskResult:
        return self.run(image, "<REGION_TO_OCR>", region=region)

    # --- preparation (caller's thread) -------------------------------------------------------
    def _prompt_ids(self, prompt: str) -> list[int]:
        with self._lock:
            ids = self._prompt_cache.get(prompt)
        if ids is None:
            body = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = [self.bos_id, *body, self.eos_id]
            with self._lock:
                if len(self._prompt_cache) < 4096:
                    self._prompt_cache[prompt] = ids
        return ids

    def _max_new(self, req: TaskRequest, task: FlorenceTask) -> int:
        """The request's generation length; a task's default is cut to what the model's decoder
        positions allow, an explicit request past it is refused."""
        limit = self.max_new_limit
        if req.max_new_tokens is None:
            return min(task.max_new_tokens, limit) if limit else task.max_new_tokens
        if limit and req.max_new_tokens > limit:
            raise InvalidInput(
                f"max_new_tokens={req.max_new_tokens} is more than this model can generate "
                f"({limit}, its decoder's max_position_embeddings); ask for at most {limit}",
                details={"max_new_tokens": req.max_new_tokens, "limit": limit},
            )
        return req.max_new_tokens

    def _prepare(self, image: Any, requests: list[TaskRequest | dict]) -> _Image:
        if not requests:
            raise ValueError("no task requests given")
        pil = as_pil(image, self.settings)
        size = (pil.width, pil.height)
        pairs = []
        for i, raw in enumerate(requests):
            req = raw if isinstance(raw, TaskRequest) else TaskRequest.model_validate(raw)
            task = req.resolve(self.tasks)
            if req.adapter:
                raise UnknownAdapter(
                    f"unknown adapter {req.adapter!r}: no adapters are registered "
                    "(`uffizi adapters list`)", details={"adapter": req.adapter},
                )
            region = req.check_region(size) if task.needs_region else None
            prompt = build_prompt(task, text=req.text, region=region, image_size=size)
            max_new = self._max_new(req, task)
            min_new = min(req.min_new_tokens or 0, max_new)
            pairs.append(_Pair(i, task, req, self._prompt_ids(prompt), max_new, min_new, region))
        pixels = self.processor.image_processor(images=[pil], return_tensors="pt")["pixel_values"]
        return _Image(pixels[0].to(self.dtype), size, pairs, [None] * len(pairs))

    # --- the batch (batcher thread) ----------------------------------------------------------
    def _process(self, items: list[WorkItem]) -> None:
        import torch

        started = time.perf_counter()
        images: list[_Image] = [it.payload for it in items]
        bs = self.batcher.max_batch_size
        with torch.inference_mode():
            for start in range(0, len(images), bs):  # vision: each image once
                chunk = images[start:start + bs]
                t0 = time.perf_counter()
                try:
                    pv = torch.stack([im.pixel_values for im in chunk]).to(self.device)
                    feats = self.model.model.get_image_features(pixel_values=pv).pooler_output
                except Exception as exc:  # noqa: BLE001 - fail these images, not the batch
                    for im in chunk:
                        im.error = _typed(exc, "image encoding failed")
                    continue
                per = (time.perf_counter() - t0) * 1000 / len(chunk)
                for im, f in zip(chunk, feats, strict=True):
                    im.features, im.vision_ms = f, per
            groups: dict[tuple[int, int], list[tuple[_Image, _Pair]]] = {}
            for im in images:
                for p in im.pairs:
                    groups.setdefault((p.max_new, p.min_new), []).append((im, p))
            for key in sorted(groups):  # short answers first
                group = sorted(groups[key], key=lambda ip: len(ip[1].prompt_ids))
                for s in range(0, len(group), bs):
                    chunk = [ip for ip in group[s:s + bs] if ip[0].error is None]
                    if not chunk:
                        continue
                    try:
                        self._generate(chunk, key, len(chunk))
                    except Exception as exc:  # noqa: BLE001 - fail these requests, not the batch
                        for im, _ in chunk:
                            im.error = _typed(exc, "reading the answer failed")
                self._resolve(items, started)
        self._resolve(items, started)

    def _resolve(self, items: list[WorkItem], started: float) -> None:
        now = time.perf_counter()
        for it in items:
            im: _Image = it.payload
            if it.future.done():
                continue
            if im.error is not None:
                it.future.set_exception(im.error)
                continue
            if any(r is None for r in im.results):
                continue
            for r in im.results:
                assert r is not None
                r.timings.queue_ms = (started - it.submitted) * 1000
                r.timings.total_ms = (now - it.submitted) * 1000
            it.future.set_result(im.results)

    def _generate(self, chunk: list[tuple[_Image, _Pair]], key: tuple[int, int], n: int) -> None:
        import torch
        from transformers.modeling_outputs import BaseModelOutput

        max_new, min_new = key
        t0 = time.perf_counter()
        length = max(len(p.prompt_ids) for _, p in chunk)
        embeds, masks = [], []
        for im, p in chunk:
            ids = torch.tensor(p.prompt_ids + [self.pad_id] * (length - len(p.prompt_ids)),
                               device=self.device)
            text = self._embed(ids).to(im.features.dtype)
            embeds.append(torch.cat([im.features, text], dim=0))
            mask = torch.ones(im.features.shape[0] + length, dtype=torch.long, device=self.device)
            mask[im.features.shape[0] + len(p.prompt_ids):] = 0
            masks.append(mask)
        inputs_embeds = torch.stack(embeds)
        attention_mask = torch.stack(masks)
        try:
            enc = self.model.get_encoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
            out = self.model.generate(
                encoder_outputs=BaseModelOutput(last_hidden_state=enc.last_hidden_state),
                attention_mask=attention_mask, max_new_tokens=max_new, min_new_tokens=min_new,
                do_sample=False, num_beams=1, output_logits=True, return_dict_in_generate=True,
            )
        except Exception as exc:  # noqa: BLE001 - the request gets a typed error, not a crash
            raise InferenceError(f"generation failed: {exc}") from exc
        seqs = out.sequences
        logits = torch.stack(out.logits, dim=1).float()
        gen = seqs[:, 1:1 + logits.shape[1]]
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, gen.unsqueeze(-1)).squeeze(-1)
        decode_ms = (time.perf_counter() - t0) * 1000
        for row, (im, p) in enumerate(chunk):
            ids = seqs[row].tolist()
            lps = [0.0, *logprobs[row].tolist()]
            im.results[p.index] = self._answer(im, p, ids, lps, decode_ms, n)

    def _answer(self, im: _Image, p: _Pair, ids: list[int], lps: list[float],
                decode_ms: float, batch: int) -> TaskResult:
        task = p.task
        seq = decode_sequence(ids, lps[: len(ids)], self.tokenizer, eos_id=self.eos_id,
                              pad_id=self.pad_id, token_spans=task.has_geometry)
        detections: list[Detection] = []
        warnings: list[str] = []
        if task.shape is ResultShape.TEXT:
            text = pure_text(seq.text)
            instances = []
        else:
            text = clean(seq.text).strip()
            instances = parse_instances(seq.text, task.shape, im.size, self.post_config)
            score_instances(instances, seq)
            detections = to_detections(instances, im.size, warnings)
        warnings.extend(check_output(seq, task, instances, max_new=p.max_new))
        return TaskResult(
            task=task.token, text=text, text_score=text_score(seq), detections=detections,
            image_size=im.size, prompt_text=p.request.text, region=p.region,
            timings=Timings(vision_ms=im.vision_ms, decode_ms=decode_ms, batch_size=batch),
            model=self.loaded.model_id, model_revision=self.loaded.revision,
            adapter=p.request.adapter, warnings=warnings, tokens=max(0, len(seq.token_ids) - 1),
        )


def _typed(exc: Exception, what: str) -> UffiziError:
    """`exc` as the `UffiziError` a caller gets (an `InferenceError` unless it is one already)."""
    if isinstance(exc, UffiziError):
        return exc
    err = InferenceError(f"{what}: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def as_pil(image: Any, settings: Settings):
    """A PIL RGB image from a PIL image, an HxWx3 uint8 array, a `Frame`, or a path / bytes
    (decoded as untrusted media in the sandbox)."""
    import numpy as np
    from PIL import Image

    from uffizi.frames import Frame

    if isinstance(image, Frame):
        image = image.image
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"arrays must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
        return Image.fromarray(image, "RGB")
    from uffizi.media.images import load_image

    return load_image(image, settings=settings)
