"""`uffizi bench`: benchmarks that print ratios against a baseline run in the same process."""

from __future__ import annotations

import json
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks (ratios against a baseline in the same process).",
                        no_args_is_help=True)


@bench_app.command("engine")
def engine(
    model: Annotated[str, typer.Option(help="tiny, small, base-random, large-random, or a folder / hub id")] = "small",
    images: Annotated[int, typer.Option(min=1)] = 16,
    tokens: Annotated[int, typer.Option(min=1, help="min_new_tokens = max_new_tokens")] = 32,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated engine batch sizes, e.g. 1,8,64")] = "16",
    device: Annotated[str, typer.Option()] = "auto",
    dtype: Annotated[str, typer.Option(help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")] = "auto",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Naive model-card loop vs the engine: 16 images x 3 tasks (caption, OD, OCR)."""
    from transformers.utils import logging as hf_logging

    from uffizi.bench import bench_engine
    from uffizi.engine import Engine

    hf_logging.disable_progress_bar()

    try:
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"{batch_sizes!r}: give whole numbers >= 1, e.g. 1,8,64",
                                 param_hint="--batch-sizes")
    eng = Engine.from_pretrained(model, device=device, dtype=dtype, max_batch_size=max(sizes),
                                 max_wait_ms=50)
    try:
        info = eng.info
        n = sum(p.numel() for p in eng.model.parameters())
        typer.echo(f"model {info['model']} ({n / 1e6:.1f}M parameters) on {info['device']} "
                   f"{info['dtype']}, attention {info['attn_implementation']}; "
                   f"{images} images x 3 tasks, {tokens} tokens each")
        report = bench_engine(eng, images=images, tokens=tokens, batch_sizes=sizes)
    finally:
        eng.close()
    if as_json:
        typer.echo(json.dumps(report | {"engine_info": info}, indent=2))


def install(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
