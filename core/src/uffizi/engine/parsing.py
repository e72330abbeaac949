"""Reading Florence-2's answers: token ids + probabilities -> text, detections with scores.

Geometry and labels follow transformers' `Florence2PostProcessor` rule for rule (same regular
expressions over the same decoded text, same 1000-bin de-quantization), so our detections equal
`processor.post_process_generation` (a test checks this on random sequences). What we add is
where each instance came from: every regex match keeps its character span, each generated token
keeps its span in the decoded text, so each instance knows the tokens that produced it.

Scores (transformers returns none):
- a detection's score is the geometric mean of the probabilities of the tokens that produced
  it: the tokens of its label (phrase, class name or OCR text) and its location tokens;
  `score = exp(mean(log p_i))`. A label shared by several boxes counts for each of them.
- the text score is the geometric mean over every generated token, end token included.
Probabilities are the model's softmax over the raw logits at each step (before any logits
processor), so forcing a minimum length does not distort them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from uffizi.engine.prompts import dequantize
from uffizi.tasks import ResultShape

_STRIP = ("<s>", "</s>", "<pad>")
_TEXT_BEFORE = r"^\s*(.*?)(?=<od>|</od>|<box>|</box>|<bbox>|</bbox>|<loc_)"
_TEXT_BEFORE_POLY = r"^\s*(.*?)(?=<od>|</od>|<box>|</box>|<bbox>|</bbox>|<loc_|<poly>)"
_BOX = re.compile(r"<loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)>")
_LOC = re.compile(r"<loc_(\d+)>")
_OCR_DEFAULT = r"(.+?)" + r"<loc_(\d+)>" * 8


@dataclass
class Instance:
    """One parsed object, in pixels, with the character spans of the text that produced it."""

    label: str
    bbox: list[int] | None = None
    polygons: list[list[int]] | None = None
    quad: list[int] | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    score: float = 0.0


def clean(text: str) -> str:
    for tok in _STRIP:
        text = text.replace(tok, "")
    return text


def _xy(bins: list[int], size: tuple[int, int]) -> list[int]:
    w, h = size
    return [dequantize(b, w if i % 2 == 0 else h) for i, b in enumerate(bins)]


def _boxes(text: str, size, *, allow_empty: bool, banned: frozenset[str] = frozenset(),
           ascii_only: bool = True) -> list[Instance]:
    pattern = r"(?:(?:<loc_\d+>){4,})" if allow_empty else r"([^<]+(?:<loc_\d+>){4,})"
    out: list[Instance] = []
    for m in re.finditer(pattern, text):
        phrase_text, base = m.group(0), m.start()
        lead = re.search(_TEXT_BEFORE, phrase_text)
        if not lead:
            continue
        phrase = lead.group().strip()
        if phrase in banned:
            continue
        label_span = (base + lead.start(), base + lead.end())
        if ascii_only:
            phrase = phrase.encode("ascii", "ignore").decode("ascii")
        for b in _BOX.finditer(phrase_text):
            bins = [int(b.group(j)) for j in range(1, 5)]
            out.append(Instance(label=phrase, bbox=_xy(bins, size),
                                spans=[label_span, (base + b.start(), base + b.end())]))
    return out


def _polygons(text: str, size, *, allow_empty: bool) -> list[Instance]:
    sep, start, end = "<sep>", "<poly>", "</poly>"
    body = rf"(?:<loc_\d+>|{re.escape(sep)}|{re.escape(start)}|{re.escape(end)}){{4,}}"
    pattern = rf"(?:{body})" if allow_empty else rf"([^<]+{body})"
    poly_re = re.compile(rf"{re.escape(start)}(.*?){re.escape(end)}")
    point_run = re.compile(rf"((?:<loc_\d+>)+)(?:{re.escape(sep)}|$)")
    out: list[Instance] = []
    for m in re.finditer(pattern, text):
        phrase_text, base = m.group(0), m.start()
        stripped = re.sub(r"^<loc_\d+>", "", phrase_text, count=1)
        if not stripped and not allow_empty:
            continue
        lead = re.search(_TEXT_BEFORE_POLY, stripped)
        if not lead:
            continue
        phrase = lead.group().strip()
        shift = len(phrase_text) - len(stripped)
        label_span = (base + shift + lead.start(), base + shift + lead.end())
        if start in phrase_text and end in phrase_text:
            parts = [(p.group(1), p.start(1)) for p in poly_re.finditer(phrase_text)]
        else:
            parts = [(phrase_text, 0)]
        for part, offset in parts:
            runs = list(point_run.finditer(part))
            if not runs:
                continue
            polygons, spans = [], [label_span]
            for r in runs:
                bins = [int(x) for x in _LOC.findall(r.group(1))]
                if len(bins) % 2 == 1:
                    bins = bins[:-1]
                polygons.append(_xy(bins, size))
                spans.append((base + offset + r.start(), base + offset + r.end()))
            out.append(Instance(label=phrase, polygons=polygons, spans=spans))
    return out


def _ocr(text: str, size, pattern: str | None, area_threshold: float) -> list[Instance]:
    out: list[Instance] = []
    w, h = size
    for m in re.finditer(pattern or _OCR_DEFAULT, text):
        content, *quad_bins = m.groups()
        quad = _xy([int(q) for q in quad_bins], size)
        if area_threshold > 0:
            xs, ys = quad[0::2], quad[1::2]
            area = 0.5 * abs(sum(xs[i] * ys[i + 1] - xs[i + 1] * ys[i] for i in range(3)))
            if area < w * h * area_threshold:
                continue
        out.append(Instance(label=content.strip(), quad=quad, spans=[m.span()]))
    return out


def parse_instances(text: str, shape: ResultShape, image_size: tuple[int, int],
                    config: dict[str, Any] | None = None) -> list[Instance]:
    """Instances of a geometry task from the decoded text (special tokens kept)."""
    config = config or {}
    text = clean(text)
    if shape is ResultShape.BOXES:
        return _boxes(text, image_size, allow_empty=False)
    if shape is ResultShape.PROPOSALS:
        return _boxes(text, image_size, allow_empty=True)
    if shape is ResultShape.GROUNDING:
        banned = frozenset(config.get("phrase_grounding", {}).get("banned_grounding_tokens", []))
        return _boxes(text, image_size, allow_empty=False, banned=banned)
    if shape is ResultShape.POLYGONS:
        return _polygons(text, image_size, allow_empty=True)
    if shape is ResultShape.BOXES_OR_POLYGONS:
        if "<poly>" in text:
            return _polygons(text, image_size, allow_empty=False)
        return _boxes(text, image_size, allow_empty=False)
    if shape is ResultShape.OCR:
        ocr = config.get("ocr", {})
        pattern = ocr.get("PATTERN", ocr.get("pattern"))
        return _ocr(text, image_size, pattern, float(ocr.get("AREA_THRESHOLD", 0.0)))
    return []


def pure_text(text: str) -> str:
    return clean(text).strip()


def as_transformers_answer(instances: list[Instance], shape: ResultShape) -> dict[str, Any]:
    """Our instances in the layout of `post_process_generation`'s answer (for comparison)."""
    if shape in (ResultShape.BOXES, ResultShape.PROPOSALS, ResultShape.GROUNDING):
        return {"bboxes": [i.bbox for i in instances], "labels": [i.label for i in instances]}
    if shape is ResultShape.POLYGONS:
        return {"polygons": [i.polygons for i in instances], "labels": [i.label for i in instances]}
    if shape is ResultShape.OCR:
        return {"quad_boxes": [i.quad for i in instances], "labels": [i.label for i in instances]}
    if shape is ResultShape.BOXES_OR_POLYGONS:
        boxes = [i for i in instances if i.polygons is None]
        polys = [i for i in instances if i.polygons is not None]
        return {"bboxes": [i.bbox for i in boxes], "bboxes_labels": [i.label for i in boxes],
                "polygons": [i.polygons for i in polys], "polygons_labels": [i.label for i in polys]}
    raise ValueError(f"{shape} has no geometry")


# --- token spans and probabilities -----------------------------------------------------------
@dataclass
class DecodedSequence:
    """Generated tokens decoded the way transformers decodes them, with per-token spans."""

    text: str  # the full decoded text, special tokens kept
    spans: list[tuple[int, int]]  # character span of each generated token in `text`
    logprobs: list[float]  # log-probability of each generated token
    token_ids: list[int]
    ended: bool  # the end token was generated


def decode_sequence(token_ids: list[int], logprobs: list[float], tokenizer, *,
                    eos_id: int, pad_id: int, token_spans: bool = True) -> DecodedSequence:
    """Decode up to and including the end token; runs of ordinary tokens are decoded together
    (as the tokenizer does), added tokens (`<loc_N>`, markers, specials) as their content.

    `token_spans=False` (text answers, which need no per-token attribution) gives every token
    of a run the run's span and skips the prefix decoding, which is quadratic in run length."""
    ids: list[int] = []
    lps: list[float] = []
    ended = False
    for tid, lp in zip(token_ids, logprobs, strict=True):
        if tid == pad_id and ids:  # padding after the end of a batched sequence
            break
        ids.append(tid)
        lps.append(lp)
        if tid == eos_id and len(ids) > 1:
            ended = True
            break
    added = tokenizer.added_tokens_decoder
    text_parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    run: list[int] = []

    def flush() -> None:
        nonlocal pos
        if not run:
            return
        full = tokenizer.decode(run, skip_special_tokens=False)
        if not token_spans:
            spans.extend([(pos, pos + len(full))] * len(run))
        prev = 0
        for k in range(1, len(run) + 1) if token_spans else ():  # prefix decoding: token spans
            piece_len = len(tokenizer.decode(run[:k], skip_special_tokens=False))
            spans.append((pos + prev, pos + max(prev, piece_len)))
            prev = max(prev, piece_len)
        text_parts.append(full)
        pos += len(full)
        run.clear()

    for tid in ids:
        if tid in added:
            flush()
            content = added[tid].content
            spans.append((pos, pos + len(content)))
            text_parts.append(content)
            pos += len(content)
        else:
            run.append(tid)
    flush()
    return DecodedSequence("".join(text_parts), spans, lps, ids, ended)


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e in spans if e > s)


def score_instances(instances: list[Instance], seq: DecodedSequence) -> None:
    """Give each instance the geometric mean probability of the tokens that produced it.

    Instance spans are in the cleaned text (`<s>`, `</s>`, `<pad>` removed); map them back.
    """
    # offsets of the cleaned text in the full text
    keep: list[tuple[int, int, int]] = []  # (token index, clean start, clean end)
    cpos = 0
    for i, (s, e) in enumerate(seq.spans):
        piece = seq.text[s:e]
        if piece in _STRIP:
            continue
        keep.append((i, cpos, cpos + (e - s)))
        cpos += e - s
    for inst in instances:
        lps = [seq.logprobs[i] for i, s, e in keep if _overlaps((s, e), inst.spans)]
        inst.score = math.exp(sum(lps) / len(lps)) if lps else 0.0


def text_score(seq: DecodedSequence) -> float:
    lps = seq.logprobs[1:] if len(seq.logprobs) > 1 else seq.logprobs  # skip the start token
    return math.exp(sum(lps) / len(lps)) if lps else 0.0
