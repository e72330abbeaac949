"""Guardrails: degenerate output is flagged in `warnings`, never passed off as a good answer.

Checked on every answer: generation stopped at `max_new_tokens` before the end token; runs of
`<s>` (a model that has lost its way repeats the start token); location tokens the parser could
not use (a count that is not a whole number of boxes, or locations in a text answer); the same
short token pattern repeating to the end; an empty answer.
"""

from __future__ import annotations

import re

from uffizi.engine.parsing import DecodedSequence, Instance, clean
from uffizi.tasks import FlorenceTask, ResultShape

_LOC = re.compile(r"<loc_\d+>")


def _repeats_to_end(ids: list[int], *, max_period: int = 8, min_repeats: int = 4) -> bool:
    """True when the last tokens are one pattern of up to `max_period` tokens, repeated."""
    for period in range(1, max_period + 1):
        need = period * min_repeats
        if len(ids) < need:
            break
        tail = ids[-need:]
        if all(tail[i] == tail[i % period] for i in range(need)):
            return True
    return False


def check_output(seq: DecodedSequence, task: FlorenceTask, instances: list[Instance], *,
                 max_new: int) -> list[str]:
    warnings: list[str] = []
    generated = seq.token_ids[1:]
    if not seq.ended:
        warnings.append(
            f"truncated: generation stopped at max_new_tokens={max_new} before the end token"
        )
    if "<s><s><s>" in seq.text.replace("</s>", ""):
        warnings.append("degenerate: the output contains a run of <s> tokens")
    body = clean(seq.text)
    locs = len(_LOC.findall(body))
    if task.shape is ResultShape.TEXT:
        if locs:
            warnings.append(f"unparsable: {locs} location token(s) in a text answer")
        if not body.strip():
            warnings.append("empty: the model returned no text")
    else:
        used = 0
        for inst in instances:
            if inst.bbox is not None:
                used += 4
            elif inst.quad is not None:
                used += 8
            elif inst.polygons is not None:
                used += sum(len(p) for p in inst.polygons)
        if locs > used:
            warnings.append(
                f"unparsable: {locs - used} of {locs} location token(s) did not form a "
                f"{'box' if task.shape is not ResultShape.POLYGONS else 'polygon'}"
            )
    if not seq.ended and _repeats_to_end(generated):
        warnings.append("repetitive: the output repeats the same tokens until it was cut")
    return warnings
