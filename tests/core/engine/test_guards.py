"""Degenerate output is flagged in warnings, not returned as a good answer."""

from __future__ import annotations

import pytest

from uffizi.engine.guards import check_output
from uffizi.engine.parsing import decode_sequence, parse_instances
from uffizi.tasks import get_task


@pytest.fixture(scope="module")
def tok(tiny_engine):
    return tiny_engine.tokenizer


def _check(tok, pieces: list[str], token: str, *, end: bool = True, max_new: int = 64):
    ids = [tok.eos_token_id]
    for p in pieces:
        ids += tok(p, add_special_tokens=False)["input_ids"]
    if end:
        ids.append(tok.eos_token_id)
    seq = decode_sequence(ids, [0.0] * len(ids), tok, eos_id=tok.eos_token_id,
                          pad_id=tok.pad_token_id)
    task = get_task(token)
    instances = [] if not task.has_geometry else parse_instances(seq.text, task.shape, (640, 480))
    return check_output(seq, task, instances, max_new=max_new)


def test_a_clean_detection_has_no_warning(tok):
    assert _check(tok, ["<s>", "car", "<loc_1><loc_2><loc_30><loc_40>"], "<OD>") == []


def test_a_clean_caption_has_no_warning(tok):
    assert _check(tok, ["<s>", "a red car on a road"], "<CAPTION>") == []


def test_cut_off_answers_are_flagged(tok):
    warnings = _check(tok, ["<s>", "car", "<loc_1><loc_2>"], "<OD>", end=False, max_new=5)
    assert any(w.startswith("truncated") for w in warnings)


def test_runs_of_start_tokens_are_flagged(tok):
    warnings = _check(tok, ["<s>", "<s>", "<s>", "<s>", "car"], "<CAPTION>")
    assert any(w.startswith("degenerate") for w in warnings)


def test_location_tokens_that_form_no_box_are_flagged(tok):
    warnings = _check(tok, ["<s>", "car", "<loc_1><loc_2><loc_3><loc_4><loc_5><loc_6>"], "<OD>")
    assert any(w.startswith("unparsable: 2 of 6") for w in warnings)


def test_locations_in_a_text_answer_are_flagged(tok):
    warnings = _check(tok, ["<s>", "a car<loc_5><loc_9>"], "<CAPTION>")
    assert any(w.startswith("unparsable") for w in warnings)


def test_repetition_until_cut_is_flagged(tok):
    warnings = _check(tok, ["<s>"] + ["car<loc_1>"] * 10, "<CAPTION>", end=False, max_new=40)
    assert any(w.startswith("repetitive") for w in warnings)


def test_an_empty_text_answer_is_flagged(tok):
    assert any(w.startswith("empty") for w in _check(tok, ["<s>"], "<OCR>"))
