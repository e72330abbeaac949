"""From parsed instances to the result schema: detections clipped to the image, and the
per-class results of open-vocabulary detection merged into one `TaskResult`."""

from __future__ import annotations

from uffizi.results import Detection, TaskResult


def _clip(v: float, hi: int) -> float:
    return float(min(max(v, 0), hi))


def to_detections(instances, size: tuple[int, int], warnings: list[str]) -> list[Detection]:
    """Parsed instances -> `Detection`s clipped to the image; polygons of fewer than three
    points are dropped (with a warning); polygons and quads also get their bounding box."""
    w, h = size
    out: list[Detection] = []
    dropped = 0

    def clip_flat(flat: list[int]) -> list[float]:
        return [_clip(v, w if i % 2 == 0 else h) for i, v in enumerate(flat)]

    def bounds(flat: list[float]) -> list[float]:
        xs, ys = flat[0::2], flat[1::2]
        return [min(xs), min(ys), max(xs), max(ys)]

    for inst in instances:
        score = min(max(inst.score, 0.0), 1.0)
        if inst.bbox is not None:
            out.append(Detection(label=inst.label, bbox=clip_flat(inst.bbox), score=score))
        elif inst.quad is not None:
            quad = clip_flat(inst.quad)
            out.append(Detection(label=inst.label, quad=quad, bbox=bounds(quad), score=score))
        elif inst.polygons is not None:
            polys = [clip_flat(pg) for pg in inst.polygons if len(pg) >= 6]
            dropped += len(inst.polygons) - len(polys)
            if polys:
                allpts = [v for pg in polys for v in pg]
                out.append(Detection(label=inst.label, polygons=polys, bbox=bounds(allpts),
                                     score=score))
    if dropped:
        warnings.append(f"{dropped} polygon(s) with fewer than 3 points were dropped")
    return out


def merge_results(results: list[TaskResult], *, labels: list[str]) -> TaskResult:
    """One result from one open-vocabulary task per class: detections labelled by class."""
    first = results[0]
    dets = [d.model_copy(update={"label": lab}) for r, lab in zip(results, labels, strict=True)
            for d in r.detections]
    warnings = [f"{lab}: {w}" for r, lab in zip(results, labels, strict=True) for w in r.warnings]
    return first.model_copy(update={
        "text": "\n".join(r.text for r in results), "detections": dets, "warnings": warnings,
        "prompt_text": ", ".join(labels),
        "text_score": min(r.text_score for r in results),
        "tokens": sum(r.tokens for r in results),
    })
