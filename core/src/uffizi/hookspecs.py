"""The hooks a Uffizi plugin can implement (pluggy project `uffizi`).

Registration hooks receive a `register` callable and call it once per thing they add. Only the
"pick one" hooks (`make_engine`, `make_runner`) are `firstresult`. Arguments may be added in
later versions, never renamed: implement only the arguments you use (pluggy passes by name).
Every hookspec here has a section in plugins/README.md; a test checks it.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("uffizi")


@hookspec
def register_pipelines(register):
    """Register pipelines: call `register(pipeline)` with a `uffizi.Pipeline` instance.

    A pipeline is named `vertical/name` with an integer `version`; old versions stay registered
    so stored jobs can be re-run. It declares its options model (pydantic), the media types it
    accepts, whether it is `streaming`, and `run(frames, *, engine, options, ctx)`.
    """


@hookspec
def register_loaders(register):
    """Register loaders: call `register(loader)` with a `uffizi.Loader` instance.

    A loader claims inputs by sniffing their first bytes (`sniff(head, name)`) and turns one
    input into `Frame`s (`load(path, *, options, settings)`).
    """


@hookspec
def register_exporters(register):
    """Register exporters: call `register(exporter)` with a `uffizi.Exporter` instance.

    An exporter has a `format` name (json, geojson, png, csv, ...), a media type and
    `export(result, out_dir)` that writes its files for one `uffizi.RunResult`.
    """


@hookspec
def register_adapters(register):
    """Register LoRA adapters: call `register(uffizi.AdapterSpec(name=..., path=..., base_model=..., vertical=...))`.

    `path` is a local folder or a hub id; `base_model` is the model id the adapter was trained
    on (an adapter for another base model is refused when loaded).
    """


@hookspec
def register_prompts(register):
    """Register prompt packs: call `register(uffizi.PromptPack(name=..., version=..., prompts={...}))`.

    A pack maps class names to a Florence-2 task and text, e.g. `{"pedestrian": ("<OPEN_VOCABULARY_DETECTION>", "pedestrian")}`.
    Packs are versioned (`name@vN`) like pipelines.
    """


@hookspec
def register_tasks(register):
    """Register custom Florence-2 tasks: call `register(uffizi.FlorenceTask(...))`.

    A custom task has its own token and prompt template, one of the built-in result shapes
    (so the built-in parsers read its answer), generation defaults, and usually the adapter
    fine-tuned on it. It cannot replace a built-in task.
    """


@hookspec
def register_routes(register):
    """Register extra API routes: call `register(router)` with a FastAPI `APIRouter`.

    The router is mounted under `/v1/plugins/<plugin name>/`; plugins never create their own
    FastAPI app.
    """


@hookspec
def register_commands(cli):
    """Add CLI commands: `cli` is the `uffizi` Typer app; add commands or sub-apps to it
    (`cli.add_typer(my_app, name="medical")`)."""


@hookspec(firstresult=True)
def make_engine(settings):
    """Return the Engine for this process, or None to let another plugin decide.

    The core Florence-2 engine is the `trylast` default. A plugin returns its own engine only
    when it must (a scripted engine for a vertical's logic tests, a remote engine).
    """


@hookspec(firstresult=True)
def make_runner(settings):
    """Return a runner factory, or None to let another plugin decide.

    The factory has `bind(platform, db, blobs) -> runner`; the runner has `start()`,
    `notify(job_id=None)` (called after each submit) and `stop(timeout=None)`. The in-process
    runner (threads in this process) is the `trylast` default; the worker distribution returns
    its Celery runner when a broker URL is set. The core never imports the worker.
    """


@hookspec
def sanitize_input(media_type, path, options):
    """Called on every input before it is stored. Return None to keep it, or the path of a
    replacement file (the medical plugin de-identifies DICOM here). Provenance records the hash
    of what was stored."""


@hookspec
def startup(platform):
    """Called once when the platform starts (CLI run, API server, worker), after every plugin
    registered. `platform` is the `uffizi.Platform` with the registries."""


@hookspec
def before_job_run(job, pipeline, options):
    """Called before a job's pipeline runs, with the job, the pipeline and validated options."""


@hookspec
def after_job_run(job, pipeline, result):
    """Called after a job's pipeline finished successfully, with its `RunResult`."""


@hookspec
def on_job_error(job, pipeline, error):
    """Called when a job's pipeline raised; `error` is the exception (a `UffiziError` has a
    stable `code`)."""
