"""core/florence@v1: options validation, including tasks plugins add."""

from __future__ import annotations

import pytest

from uffizi import FlorenceTask, ResultShape, TaskInput, hookimpl
from uffizi.errors import InvalidOptions, UffiziError
from uffizi.platform import Platform
from uffizi.settings import Settings


class _CustomTask:
    @hookimpl
    def register_tasks(self, register):
        register(FlorenceTask(token="<CROP_DISEASE>", name="crop-disease", input=TaskInput.NONE,
                              shape=ResultShape.BOXES, max_new_tokens=64,
                              description="Diseased leaves", prompt="Locate diseased leaves.",
                              builtin=False))


@pytest.fixture
def platform(tmp_path):
    return Platform(Settings(home=tmp_path), plugins=[_CustomTask()], entry_points=False)


def test_a_plugin_task_is_a_valid_option_and_becomes_a_request(platform):
    pipe = platform.get_pipeline("core/florence")
    opts = pipe.parse_options({"tasks": ["<CROP_DISEASE>", "caption"]})
    assert [r.task for r in opts.requests(platform.tasks)] == ["<CROP_DISEASE>", "<CAPTION>"]


@pytest.mark.parametrize("options, code", [
    ({"tasks": ["<NOPE>"]}, "unknown_task"),
    ({"tasks": ["<CAPTION_TO_PHRASE_GROUNDING>"]}, "missing_task_input"),
])
def test_a_task_that_cannot_run_keeps_its_own_code(platform, options, code):
    with pytest.raises(UffiziError) as err:
        platform.get_pipeline("core/florence@v1").parse_options(options)
    assert err.value.code == code


@pytest.mark.parametrize("options, field", [
    ({"tasks": ["<OD>"], "colour": "red"}, "colour"),
    ({"tasks": ["<CAPTION>"], "region": [1, 2, 3, 4]}, "(options)"),
    ({"tasks": ["<OD>"], "classes": ["car"]}, "(options)"),
    ({"tasks": "<OD>"}, "tasks"),
    ({"tasks": ["<OD>"], "max_new_tokens": 0}, "max_new_tokens"),
])
def test_bad_options_name_the_field(platform, options, field):
    with pytest.raises(InvalidOptions) as err:
        platform.get_pipeline("core/florence@v1").parse_options(options)
    assert err.value.code == "invalid_options"
    assert field in {e["field"] for e in err.value.details["errors"]}


def test_classes_run_one_open_vocabulary_task_each(platform):
    opts = platform.get_pipeline("core/florence").parse_options(
        {"tasks": ["<OPEN_VOCABULARY_DETECTION>", "<OD>"], "classes": ["car", "bus"]})
    assert [(r.task, r.text) for r in opts.requests()] == [
        ("<OPEN_VOCABULARY_DETECTION>", "car"), ("<OPEN_VOCABULARY_DETECTION>", "bus"), ("<OD>", None)]
