"""`uffizi bench engine`: the engine against the model card's loop, same inputs, one process.

The naive baseline is what the Florence-2 model card does: for each image and each task,
`processor(text=task, images=image)` then `model.generate(...)`, one at a time. The engine
runs the same (image, task) pairs with shared image encoding and batching. Both sides use the
same generation settings (greedy, min_new_tokens = max_new_tokens) so they generate the same
number of tokens. Printed: images/s for both, and the ratio naive_time / engine_time last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

TASKS = ("<CAPTION>", "<OD>", "<OCR>")


@dataclass
class BenchResult:
    label: str
    seconds: float
    images: int

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else float("inf")


def bench_images(n: int, seed: int = 0) -> list:
    """`n` RGB images of mixed sizes: real photos from scikit-image when it is installed,
    otherwise generated scenes."""
    import numpy as np
    from PIL import Image

    photos = []
    try:
        from skimage import data

        photos = [Image.fromarray(f()).convert("RGB") for f in
                  (data.astronaut, data.chelsea, data.coffee, data.rocket)]
    except Exception:  # noqa: BLE001 - scikit-image is optional here
        pass
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if photos and i % 2 == 0:
            out.append(photos[i // 2 % len(photos)])
        else:
            w, h = int(rng.integers(320, 1280)), int(rng.integers(240, 960))
            out.append(Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)))
    return out


def run_naive(engine, images, tokens: int, tasks=TASKS) -> tuple[BenchResult, list[str]]:
    import torch

    model, proc = engine.model, engine.processor
    texts = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for img in images:
            for task in tasks:
                inputs = proc(text=task, images=img, return_tensors="pt").to(engine.device)
                inputs["pixel_values"] = inputs["pixel_values"].to(engine.dtype)
                out = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens,
                                     do_sample=False, num_beams=1)
                texts.append(proc.batch_decode(out, skip_special_tokens=False)[0])
    _sync(engine)
    return BenchResult("naive", time.perf_counter() - t0, len(images)), texts


def run_engine(engine, images, tokens: int, tasks=TASKS) -> tuple[BenchResult, list[list]]:
    from uffizi.engine.requests import TaskRequest

    reqs = [TaskRequest(task=t, max_new_tokens=tokens, min_new_tokens=tokens) for t in tasks]
    t0 = time.perf_counter()
    futures = [engine.submit(img, reqs) for img in images]  # all at once: the batcher batches
    results = [f.result() for f in futures]
    _sync(engine)
    return BenchResult("engine", time.perf_counter() - t0, len(images)), results


def _sync(engine) -> None:
    if getattr(engine.device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize()


def bench_engine(engine, *, images: int = 16, tokens: int = 32, batch_sizes: list[int] | None = None,
                 echo: Callable[[str], None] = print, warmup: bool = True) -> dict:
    imgs = bench_images(images)
    if warmup:
        run_naive(engine, imgs[:1], 4, tasks=TASKS[:1])
        run_engine(engine, imgs[:2], 4)
    naive, naive_texts = run_naive(engine, imgs, tokens)
    echo(f"naive  (processor + generate, one image and task at a time): "
         f"{naive.images_per_s:8.2f} images/s  ({naive.seconds:.2f} s)")
    report: dict = {"naive_images_per_s": naive.images_per_s, "engine": {}}
    for bs in batch_sizes or [engine.batcher.max_batch_size]:
        engine.batcher.max_batch_size = bs
        res, results = run_engine(engine, imgs, tokens)
        ours = [r.text for rs in results for r in rs]
        same = sum(1 for a, b in zip(ours, naive_texts, strict=True) if a and a in b)
        report["engine"][bs] = {"images_per_s": res.images_per_s, "seconds": res.seconds,
                                "ratio": naive.seconds / res.seconds}
        echo(f"engine (shared encoding, batch {bs:3d}):                      "
             f"{res.images_per_s:8.2f} images/s  ({res.seconds:.2f} s; "
             f"{same}/{len(ours)} answers as naive)")
    best = max(report["engine"].values(), key=lambda v: v["ratio"])
    report["ratio"] = best["ratio"]
    echo(f"ratio naive_time / engine_time: {best['ratio']:.2f}")
    return report
