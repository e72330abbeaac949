"""The generated English text the random-weight checkpoints' tokenizer is trained on.

A few hundred sentences in the registers Florence-2 reads and writes: captions, object and
region names, grounding phrases and OCR-like strings (signs, plates, labels, numbers). They
come from fixed word lists and a fixed seed, so the tokenizer, and with it every token id of
the tiny checkpoints, is the same on every machine.
"""

from __future__ import annotations

import random

OBJECTS = (
    "car", "truck", "bus", "bicycle", "motorcycle", "person", "man", "woman", "child", "dog",
    "cat", "horse", "cow", "sheep", "bird", "tree", "building", "house", "window", "door",
    "road", "street", "sign", "traffic light", "bench", "chair", "table", "cup", "bottle",
    "laptop", "phone", "book", "clock", "umbrella", "bag", "boat", "train", "airplane",
    "field", "crop", "tractor", "drone", "roof", "fence", "wheel", "helmet", "camera",
    "lesion", "nodule", "bone", "organ", "scan", "shadow", "cloud", "mountain", "river",
)
COLOURS = ("red", "green", "blue", "yellow", "white", "black", "grey", "brown", "orange", "purple")
SIZES = ("small", "large", "tall", "long", "old", "new", "bright", "dark", "round", "square")
PLACES = (
    "on the street", "in a field", "next to a building", "in front of a house", "on a table",
    "near the river", "in the parking lot", "under a tree", "on the road", "in the room",
    "at the intersection", "on the grass", "in the sky", "behind the fence", "by the window",
)
VERBS = (
    "parked", "standing", "sitting", "walking", "running", "lying", "flying", "driving",
    "waiting", "crossing", "riding", "holding", "looking at", "carrying", "growing",
)
OPENERS = (
    "The image shows", "In this picture there is", "This is a photo of", "We can see",
    "The photo shows", "There is", "A close-up of", "An aerial view of",
)
OCR_WORDS = (
    "STOP", "EXIT", "OPEN", "CLOSED", "SALE", "PARKING", "NO ENTRY", "ONE WAY", "POLICE",
    "TAXI", "HOSPITAL", "PHARMACY", "CAFE", "HOTEL", "BANK", "MAIN ST", "LOT", "BATCH",
    "EXP", "TOTAL", "PRICE", "GATE", "PLATFORM", "SPEED LIMIT", "km/h", "mph", "kg", "No.",
)
PRONOUNS = ("it", "they", "this", "that", "the image", "someone", "something", "each other")


def _noun(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.5:
        parts.append(rng.choice(SIZES))
    if rng.random() < 0.7:
        parts.append(rng.choice(COLOURS))
    parts.append(rng.choice(OBJECTS))
    return " ".join(parts)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _caption(rng: random.Random) -> str:
    subject = _article(_noun(rng))
    text = f"{subject} {rng.choice(VERBS)} {rng.choice(PLACES)}"
    if rng.random() < 0.5:
        text = f"{rng.choice(OPENERS)} {text}"
    if rng.random() < 0.4:
        text += f" with {_article(_noun(rng))}"
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_caption(rng) for _ in range(rng.randint(2, 4)))


def _ocr(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:  # a licence plate
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
        return f"{letters} {rng.randint(100, 9999)}"
    if kind == 1:  # a sign
        return f"{rng.choice(OCR_WORDS)} {rng.choice(OCR_WORDS)}"
    if kind == 2:  # a price or a measurement
        return f"{rng.choice(OCR_WORDS)} {rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
    if kind == 3:  # a date and a time
        return f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 30)} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    return f"{rng.randint(1, 500)} {rng.choice(('Main', 'High', 'Park', 'Oak', 'Mill'))} Street"


def sentences(n: int = 600, seed: int = 1234) -> list[str]:
    """`n` deterministic sentences: captions, paragraphs, object lists, phrases, OCR strings."""
    rng = random.Random(seed)
    out: list[str] = []
    makers = (
        _caption, _caption, _paragraph, _ocr, _ocr,
        lambda r: ", ".join(_noun(r) for _ in range(r.randint(1, 5))),
        lambda r: f"{r.choice(PRONOUNS)} is {_article(_noun(r))}",
    )
    while len(out) < n:
        out.append(makers[len(out) % len(makers)](rng))
    # The prompts the processor builds from the task tokens, so they tokenize compactly.
    out += [
        "What is the text in the image?", "What is the text in the image, with regions?",
        "What does the image describe?", "Describe in detail what is shown in the image.",
        "Describe with a paragraph what is shown in the image.",
        "Locate the objects with category name in the image.",
        "Locate the objects in the image, with their descriptions.",
        "Locate the region proposals in the image.", "Locate the phrases in the caption:",
        "Locate in the image with mask", "What is the polygon mask of region",
        "What is the region?", "What does the region describe?", "What text is in the region?",
    ]
    out += list(OBJECTS) + list(OCR_WORDS)
    return out
