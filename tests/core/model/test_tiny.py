"""The tiny random-weight checkpoint loads and runs like florence-community/Florence-2-base."""

from __future__ import annotations

import json

import pytest
from uffizi.model.presets import preset_parameter_counts
from uffizi.model.tiny import BANNED_GROUNDING_TOKENS, build_checkpoint, run_every_task
from uffizi.tasks import BUILTIN_TASKS
from uffizi.testing import make_test_image

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    return transformers.AutoProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return transformers.Florence2ForConditionalGeneration.from_pretrained(tiny_model_dir).eval()


def test_folder_has_the_files_of_a_real_checkpoint_and_says_it_is_random(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "processor_config.json"} <= names
    marker = json.loads((tiny_model_dir / "uffizi.json").read_text())
    assert marker["preset"] == "tiny" and marker["seed"] == 0 and marker["random_weights"] is True
    assert "meaningless" in marker["note"]


def test_auto_classes_load_it_as_florence2(processor, model):
    assert type(processor).__name__ == "Florence2Processor"
    assert type(processor.image_processor).__name__.startswith("CLIPImageProcessor")
    assert model.config.model_type == "florence2"
    assert 0.9e6 < model.num_parameters() < 1.2e6


def test_tokenizer_matches_the_real_layout(processor, model):
    tok = processor.tokenizer
    assert [tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    for i in (0, 1, 500, 999):
        ids = tok.encode(f"<loc_{i}>", add_special_tokens=False)
        assert len(ids) == 1 and ids[0] == tok.convert_tokens_to_ids(f"<loc_{i}>")
    locs = [tok.convert_tokens_to_ids(f"<loc_{i}>") for i in range(1000)]
    assert locs == list(range(locs[0], locs[0] + 1000)), "location tokens are consecutive ids"
    for marker in ("<od>", "</od>", "<ocr>", "</ocr>", "<cap>", "</cap>", "<poly>", "</poly>",
                   "<sep>", "<region_cap>", "</region_cap>", "<grounding>", "<and>"):
        assert len(tok.encode(marker, add_special_tokens=False)) == 1, marker
    assert tok.image_token == "<image>"
    assert tok.image_token_id == model.config.image_token_id == processor.image_token_id
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (
        model.config.text_config.bos_token_id, model.config.text_config.eos_token_id,
        model.config.text_config.pad_token_id)
    assert len(tok) == model.config.text_config.vocab_size, "every id the model can emit decodes"
    assert 2000 <= len(tok) <= 2112  # ~1k byte-level BPE tokens + 1024 Florence-2 tokens + <image>


def test_processor_settings_mirror_the_real_checkpoint(processor):
    ip = processor.image_processor
    assert ip.size == {"height": 768, "width": 768} and ip.image_seq_length == 577
    assert list(ip.image_mean) == [0.485, 0.456, 0.406] and list(ip.image_std) == [0.229, 0.224, 0.225]
    assert ip.rescale_factor == pytest.approx(1 / 255)
    post = processor.post_processor_config
    assert set(post) == {"ocr", "phrase_grounding", "pure_text", "description_with_bboxes",
                         "description_with_polygons", "polygons", "bboxes",
                         "description_with_bboxes_or_polygons"}
    assert {"the image", "it", "they", "a group"} <= set(post["phrase_grounding"]["banned_grounding_tokens"])
    inputs = processor(text="<OD>", images=make_test_image(100, 80), return_tensors="pt")
    assert (inputs["input_ids"] == processor.image_token_id).sum().item() == 577
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 768, 768)


def test_post_processing_reads_boxes_and_drops_banned_phrases(processor):
    text = "</s><s>red car<loc_100><loc_200><loc_300><loc_400>the image<loc_0><loc_0><loc_999><loc_999></s>"
    out = processor.post_process_generation(text, task="<CAPTION_TO_PHRASE_GROUNDING>", image_size=(1000, 500))
    assert out["<CAPTION_TO_PHRASE_GROUNDING>"]["labels"] == ["red car"]
    assert out["<CAPTION_TO_PHRASE_GROUNDING>"]["bboxes"] == [[100, 100, 300, 200]]
    assert "the image" in BANNED_GROUNDING_TOKENS


def test_every_task_prompts_generates_and_post_processes(tiny_model_dir):
    results = run_every_task(tiny_model_dir, image=make_test_image(320, 240, seed=3), max_new_tokens=20)
    assert set(results) == {t.token for t in BUILTIN_TASKS} and len(results) == 15
    for task in BUILTIN_TASKS:
        answer = results[task.token]
        assert isinstance(answer, str) if task.shape.value == "pure_text" else isinstance(answer, dict)


def test_greedy_answers_depend_on_the_image_and_end_at_varied_lengths(processor, model):
    """Random weights, but not degenerate: tests of batching and parsing need answers that
    differ per image and per prompt, with words and location tokens, and that stop."""
    import torch

    answers, lengths = set(), []
    for seed in range(4):
        for task in ("<OD>", "<CAPTION>"):
            inputs = processor(text=task, images=make_test_image(200, 150, seed), return_tensors="pt")
            with torch.inference_mode():
                ids = model.generate(**inputs, max_new_tokens=64, do_sample=False)
            answers.add(processor.batch_decode(ids, skip_special_tokens=False)[0])
            lengths.append(ids.shape[1])
    assert len(answers) >= 6, answers
    assert any("<loc_" in a for a in answers)
    assert min(lengths) < 65 and len(set(lengths)) > 2, lengths


def test_same_seed_same_weights_other_seed_other_weights(tiny_model_dir, tmp_path):
    again = build_checkpoint(tmp_path / "again", preset="tiny", seed=0)
    other = build_checkpoint(tmp_path / "other", preset="tiny", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()


def test_preset_sizes():
    small = preset_parameter_counts("small")
    assert 17e6 < small["total"] < 23e6
    assert small["vision"] > 0.6 * small["total"]
    # The real architectures: Florence-2-base is 0.23B parameters, -large 0.77B.
    assert preset_parameter_counts("base-random")["total"] == pytest.approx(0.232e9, rel=0.02)
    assert preset_parameter_counts("large-random")["total"] == pytest.approx(0.771e9, rel=0.02)
