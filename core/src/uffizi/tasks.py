"""The one table of Florence-2 tasks.

Every Florence-2 prompt token is one `FlorenceTask` row here: its token, a human name, the
input it needs, the shape of its result and its default generation length. Validation, the
`uffizi tasks` command, the API schema and the docs are all read off this table; nothing else
lists tasks. Plugins add custom tasks (an adapter's own prompt) through `register_tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from uffizi.errors import InvalidInput, UnknownTask


class TaskInput(str, Enum):
    """What a task needs besides the image."""

    NONE = "none"  # the token alone
    TEXT = "text"  # a phrase, an expression or a caption
    REGION = "region"  # a box in pixels, sent as four <loc_N> tokens


class ResultShape(str, Enum):
    """What the parsed answer looks like. Names follow transformers' post-processing types."""

    TEXT = "pure_text"  # one string
    BOXES = "description_with_bboxes"  # labelled boxes
    PROPOSALS = "bboxes"  # unlabelled boxes
    GROUNDING = "phrase_grounding"  # phrases of the caption with their boxes
    POLYGONS = "polygons"  # polygons (a mask outline)
    BOXES_OR_POLYGONS = "description_with_bboxes_or_polygons"
    OCR = "ocr"  # text lines with quadrilaterals


@dataclass(frozen=True)
class FlorenceTask:
    """One Florence-2 task: everything needed to prompt it and read its answer."""

    token: str
    name: str
    input: TaskInput
    shape: ResultShape
    max_new_tokens: int
    description: str
    # The natural-language prompt the model was trained on; `{input}` is replaced by the
    # text or the region's location tokens.
    prompt: str
    # Custom tasks (from plugins) say which adapter they are usually served with.
    adapter: str | None = None
    generation: dict[str, object] = field(default_factory=dict)
    builtin: bool = True

    @property
    def needs_text(self) -> bool:
        return self.input is TaskInput.TEXT

    @property
    def needs_region(self) -> bool:
        return self.input is TaskInput.REGION

    @property
    def has_geometry(self) -> bool:
        return self.shape is not ResultShape.TEXT

    def to_dict(self) -> dict[str, object]:
        return {
            "token": self.token,
            "name": self.name,
            "input": self.input.value,
            "result": self.shape.value,
            "max_new_tokens": self.max_new_tokens,
            "description": self.description,
            "adapter": self.adapter,
            "builtin": self.builtin,
        }


def _t(token, name, inp, shape, max_new, description, prompt) -> FlorenceTask:
    return FlorenceTask(token, name, inp, shape, max_new, description, prompt)


_N, _T, _R = TaskInput.NONE, TaskInput.TEXT, TaskInput.REGION
S = ResultShape

BUILTIN_TASKS: tuple[FlorenceTask, ...] = (
    _t("<CAPTION>", "caption", _N, S.TEXT, 64, "One-sentence caption.",
       "What does the image describe?"),
    _t("<DETAILED_CAPTION>", "detailed-caption", _N, S.TEXT, 256, "A detailed caption.",
       "Describe in detail what is shown in the image."),
    _t("<MORE_DETAILED_CAPTION>", "more-detailed-caption", _N, S.TEXT, 512,
       "A paragraph describing the image.",
       "Describe with a paragraph what is shown in the image."),
    _t("<OD>", "object-detection", _N, S.BOXES, 1024, "Objects with category names and boxes.",
       "Locate the objects with category name in the image."),
    _t("<DENSE_REGION_CAPTION>", "dense-region-caption", _N, S.BOXES, 1024,
       "Regions with short descriptions and boxes.",
       "Locate the objects in the image, with their descriptions."),
    _t("<REGION_PROPOSAL>", "region-proposal", _N, S.PROPOSALS, 1024,
       "Unlabelled boxes around everything object-like.",
       "Locate the region proposals in the image."),
    _t("<CAPTION_TO_PHRASE_GROUNDING>", "phrase-grounding", _T, S.GROUNDING, 1024,
       "Boxes for the phrases of a caption (text: the caption).",
       "Locate the phrases in the caption: {input}"),
    _t("<REFERRING_EXPRESSION_SEGMENTATION>", "referring-expression-segmentation", _T,
       S.POLYGONS, 1024, "Polygon mask of what an expression refers to (text: the expression).",
       "Locate {input} in the image with mask"),
    _t("<REGION_TO_SEGMENTATION>", "region-to-segmentation", _R, S.POLYGONS, 1024,
       "Polygon mask of the object inside a box (region: x1,y1,x2,y2 in pixels).",
       "What is the polygon mask of region {input}"),
    _t("<OPEN_VOCABULARY_DETECTION>", "open-vocabulary-detection", _T, S.BOXES_OR_POLYGONS,
       1024, "Boxes of one named class (text: the class; a list of classes runs one task per "
       "class over one image encoding).", "Locate {input} in the image."),
    _t("<REGION_TO_CATEGORY>", "region-to-category", _R, S.TEXT, 32,
       "The category of the object inside a box.", "What is the region {input}?"),
    _t("<REGION_TO_DESCRIPTION>", "region-to-description", _R, S.TEXT, 128,
       "A description of what is inside a box.", "What does the region {input} describe?"),
    _t("<REGION_TO_OCR>", "region-to-ocr", _R, S.TEXT, 128, "The text inside a box.",
       "What text is in the region {input}?"),
    _t("<OCR>", "ocr", _N, S.TEXT, 1024, "All the text in the image.",
       "What is the text in the image?"),
    _t("<OCR_WITH_REGION>", "ocr-with-region", _N, S.OCR, 1024,
       "Text lines with their quadrilaterals.",
       "What is the text in the image, with regions?"),
)

_BUILTIN_BY_TOKEN = {t.token: t for t in BUILTIN_TASKS}
_BUILTIN_BY_NAME = {t.name: t for t in BUILTIN_TASKS}


class TaskTable:
    """The built-in tasks plus the custom tasks plugins registered; lookup by token or name."""

    def __init__(self, extra: tuple[FlorenceTask, ...] = ()) -> None:
        self._by_token: dict[str, FlorenceTask] = dict(_BUILTIN_BY_TOKEN)
        self._by_name: dict[str, FlorenceTask] = dict(_BUILTIN_BY_NAME)
        for task in extra:
            self.add(task)

    def add(self, task: FlorenceTask) -> None:
        if not (task.token.startswith("<") and task.token.endswith(">")):
            raise InvalidInput(f"task token {task.token!r} must look like '<NAME>'")
        if task.token in _BUILTIN_BY_TOKEN or task.name in _BUILTIN_BY_NAME:
            raise InvalidInput(f"task {task.token} / {task.name} would replace a built-in task")
        self._by_token[task.token] = task
        self._by_name[task.name] = task

    def __iter__(self):
        return iter(self._by_token.values())

    def __len__(self) -> int:
        return len(self._by_token)

    def tokens(self) -> list[str]:
        return list(self._by_token)

    def get(self, key: str | FlorenceTask) -> FlorenceTask:
        """Find a task by token (`<OD>`), by name (`object-detection`) or by the bare word
        (`OD`, `od`). Unknown tasks raise `UnknownTask` listing the valid tokens."""
        if isinstance(key, FlorenceTask):
            return key
        k = key.strip()
        found = self._by_token.get(k) or self._by_name.get(k.lower())
        if found is None and not k.startswith("<"):
            found = self._by_token.get(f"<{k.upper()}>")
        if found is None:
            raise UnknownTask(
                f"unknown task {key!r}; use one of: {', '.join(self._by_token)} "
                "(see `uffizi tasks`)"
            )
        return found


_default_table = TaskTable()


def builtin_table() -> TaskTable:
    """The table with the 15 built-in tasks only (plugins' tasks come from the platform)."""
    return _default_table


def get_task(key: str | FlorenceTask) -> FlorenceTask:
    """Look a built-in task up by token or name."""
    return _default_table.get(key)
