"""Our parser against transformers' `post_process_generation` on random token sequences."""

from __future__ import annotations

import math
import random

import pytest

from uffizi.engine.parsing import (
    as_transformers_answer,
    decode_sequence,
    parse_instances,
    score_instances,
    text_score,
)
from uffizi.tasks import BUILTIN_TASKS, ResultShape

GEOMETRY = [t for t in BUILTIN_TASKS if t.shape is not ResultShape.TEXT]


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(tiny_model_dir))


def _random_sequence(rng: random.Random, tok, kind: str) -> list[int]:
    """Token ids shaped like Florence-2 answers (phrases, boxes, polygons, OCR lines) with
    noise, or uniformly random ids."""
    vocab = len(tok)
    loc = [tok.convert_tokens_to_ids(f"<loc_{i}>") for i in range(1000)]
    marks = [tok.convert_tokens_to_ids(m) for m in ("<poly>", "</poly>", "<sep>")]
    words = [tok(w, add_special_tokens=False)["input_ids"]
             for w in ("car", " red car", "person", " the image", "it", "STOP 42", " tree",
                       "a dog", "sign", "é café")]
    ids = [tok.eos_token_id, tok.bos_token_id]
    if kind == "uniform":
        ids += [rng.randrange(vocab) for _ in range(rng.randrange(1, 60))]
    else:
        for _ in range(rng.randrange(1, 6)):
            if rng.random() < 0.8:
                ids += rng.choice(words)
            n = rng.choice([2, 3, 4, 4, 4, 6, 8, 8, 9, 12])
            if kind == "poly" and rng.random() < 0.6:
                ids.append(marks[0])
                for _ in range(rng.randrange(1, 3)):
                    ids += [rng.choice(loc) for _ in range(n)]
                    ids.append(marks[2])
                ids.append(marks[1])
            else:
                ids += [rng.choice(loc) for _ in range(n)]
            if rng.random() < 0.1:
                ids.append(rng.randrange(vocab))
    if rng.random() < 0.8:
        ids.append(tok.eos_token_id)
    return ids


@pytest.mark.parametrize("task", GEOMETRY, ids=lambda t: t.token)
def test_parsing_equals_transformers_on_random_sequences(processor, task):
    tok = processor.tokenizer
    rng = random.Random(hash(task.token) % 1000)
    compared = found = 0
    for i in range(300):
        size = (rng.randrange(1, 8000), rng.randrange(1, 8000))
        kind = ["uniform", "boxes", "poly"][i % 3]
        ids = _random_sequence(rng, tok, kind)
        text = tok.decode(ids, skip_special_tokens=False)
        seq = decode_sequence(ids, [0.0] * len(ids), tok, eos_id=tok.eos_token_id,
                              pad_id=tok.pad_token_id)
        # our decoding with spans reproduces the tokenizer's text (up to the end token)
        assert text.startswith(seq.text)
        ours = as_transformers_answer(parse_instances(seq.text, task.shape, size,
                                                      processor.post_processor_config), task.shape)
        theirs = processor.post_process_generation(seq.text, task=task.token, image_size=size)
        assert ours == theirs[task.token], (task.token, seq.text)
        compared += 1
        found += sum(len(v) for k, v in ours.items() if "labels" not in k)
    assert compared == 300 and found > 20  # the sequences did exercise the parser


def test_scores_come_from_the_tokens_that_produced_each_detection(processor):
    tok = processor.tokenizer
    loc = lambda i: tok.convert_tokens_to_ids(f"<loc_{i}>")  # noqa: E731
    car = tok("car", add_special_tokens=False)["input_ids"]
    dog = tok("dog", add_special_tokens=False)["input_ids"]
    ids = [tok.eos_token_id, tok.bos_token_id, *car, loc(1), loc(2), loc(3), loc(4),
           *dog, loc(5), loc(6), loc(7), loc(8), tok.eos_token_id]
    # the dog's tokens are unlikely, the car's certain
    lps = [0.0, 0.0] + [0.0] * (len(car) + 4) + [math.log(0.25)] * (len(dog) + 4) + [0.0]
    seq = decode_sequence(ids, lps, tok, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    inst = parse_instances(seq.text, ResultShape.BOXES, (1000, 1000))
    score_instances(inst, seq)
    assert [i.label for i in inst] == ["car", "dog"]
    assert inst[0].score == pytest.approx(1.0)
    assert inst[1].score == pytest.approx(0.25)
    assert 0.25 < text_score(seq) < 1.0
