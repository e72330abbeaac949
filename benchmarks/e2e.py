"""End-to-end benchmark: N images through `POST /v1/jobs` on a live `uffizi serve` against the
same images through the engine directly, in one run; prints the overhead ratio last.

    python benchmarks/e2e.py                      # 64 images, the `small` preset, <CAPTION>
    python benchmarks/e2e.py --images 16 --model tiny --tokens 8

Both sides start from the same JPEG files on disk and decode them the same way (in the media
sandbox), use the same engine settings (batch size, wait) and the same task and generation
length, and are warmed up first. The engine side calls one in-process engine from as many threads as
the server has runner threads (`engine.run_many` per image, so the batcher batches them and
decoding overlaps as it does in the runners). The service side starts
`uffizi serve` as a subprocess (its own SQLite store and blobs in a temp folder, `--runners`
runner threads, the preset shared through UFFIZI_HOME), waits for `/readyz`, then submits one
job per image concurrently (multipart uploads) and waits until every job has succeeded; the
time covers upload, sniffing, storage, the job rows, claiming, decoding, inference, storing
the records and finishing each row. Printed last: end-to-end time / engine time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def make_images(n: int, folder: Path) -> list[Path]:
    from uffizi.bench import bench_images

    paths = []
    for i, image in enumerate(bench_images(n)):
        path = folder / f"img{i:03d}.jpg"
        image.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def run_engine(paths: list[Path], args: argparse.Namespace) -> float:
    from uffizi.engine import Engine
    from uffizi.engine.requests import TaskRequest

    engine = Engine.from_pretrained(args.model, device=args.device, max_batch_size=args.batch,
                                    max_wait_ms=args.wait_ms)
    request = [TaskRequest(task=args.task, max_new_tokens=args.tokens)]
    try:
        with ThreadPoolExecutor(args.runners) as pool:  # as many callers as the server has runners
            list(pool.map(lambda p: engine.run_many(p, request), paths[:args.warmup]))
            started = time.perf_counter()
            results = list(pool.map(lambda p: engine.run_many(p, request), paths))
            elapsed = time.perf_counter() - started
        args.engine_batch = sum(r[0].timings.batch_size for r in results) / len(results)
        return elapsed
    finally:
        engine.close()


def _mean_batch(metrics: str) -> float | None:
    values = {}
    for line in metrics.splitlines():
        if line.startswith(("uffizi_inference_batch_size_sum", "uffizi_inference_batch_size_count")):
            name, value = line.split()
            values[name.rsplit("_", 1)[1]] = float(value)
    return values["sum"] / values["count"] if values.get("count") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_service(paths: list[Path], args: argparse.Namespace, work: Path) -> float:
    import httpx

    port = _free_port()
    env = {**os.environ, "UFFIZI_MODEL": args.model, "UFFIZI_DEVICE": args.device,
           "UFFIZI_MAX_BATCH_SIZE": str(args.batch), "UFFIZI_MAX_WAIT_MS": str(args.wait_ms)}
    cmd = [sys.executable, "-c", "from uffizi.cli import main; main()", "serve", "--port", str(port),
           "--data-dir", str(work / "data"), "--runners", str(args.runners), "--log-level", "warning"]
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    options = json.dumps({"tasks": [args.task], "max_new_tokens": args.tokens})
    try:
        with httpx.Client(base_url=url, timeout=600, trust_env=False) as client:
            deadline = time.monotonic() + 600
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"uffizi serve exited; see {work / 'serve.log'}")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("uffizi serve did not become ready")
                time.sleep(0.2)

            def submit(path: Path) -> str:
                with path.open("rb") as f:
                    r = client.post("/v1/jobs", data={"pipeline": "core/florence@v1", "options": options},
                                    files=[("inputs", (path.name, f, "image/jpeg"))])
                r.raise_for_status()
                return r.json()["id"]

            def finish(ids: list[str]) -> None:
                """Until no job is pending or running (cheap polls: one row each), then check
                that every one of `ids` succeeded."""
                while any(client.get("/v1/jobs", params={"status": s, "limit": 1}).json()["items"]
                          for s in ("pending", "running")):
                    time.sleep(0.1)
                done = {j["id"] for j in client.get("/v1/jobs", params={"status": "succeeded",
                                                                         "limit": 1000}).json()["items"]}
                if not set(ids) <= done:
                    raise SystemExit(f"{len(set(ids) - done)} job(s) did not succeed; see the server")

            with ThreadPoolExecutor(args.clients) as pool:
                finish(list(pool.map(submit, paths[:args.warmup])))
                started = time.perf_counter()
                ids = list(pool.map(submit, paths))
                finish(ids)
                elapsed = time.perf_counter() - started
                args.service_batch = _mean_batch(client.get("/metrics").text)
                return elapsed
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--model", default="small", help="preset, folder or hub id (default: small)")
    parser.add_argument("--task", default="<CAPTION>")
    parser.add_argument("--tokens", type=int, default=32, help="max_new_tokens")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8, help="the engine's max batch size")
    parser.add_argument("--wait-ms", type=float, default=20.0, help="the batcher's max wait")
    parser.add_argument("--runners", type=int, default=8, help="runner threads of the server")
    parser.add_argument("--clients", type=int, default=8, help="concurrent submitting clients")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="uffizi-e2e-") as tmp:
        work = Path(tmp)
        (work / "images").mkdir()
        paths = make_images(args.images, work / "images")
        engine_s = run_engine(paths, args)
        service_s = run_service(paths, args, work)
    ratio = service_s / engine_s
    if args.json:
        print(json.dumps({"images": args.images, "model": args.model, "engine_s": round(engine_s, 3),
                          "end_to_end_s": round(service_s, 3), "ratio": round(ratio, 3)}))
        return
    n = args.images
    print(f"{n} images, model {args.model}, task {args.task} (max {args.tokens} tokens), "
          f"batch {args.batch}, {args.runners} runner threads, {os.cpu_count()} CPUs")
    batch = getattr(args, "service_batch", None)
    print(f"engine directly:          {engine_s:8.2f} s  {n / engine_s:6.2f} images/s  "
          f"mean batch {args.engine_batch:.1f}")
    print(f"end to end (/v1/jobs):    {service_s:8.2f} s  {n / service_s:6.2f} images/s  "
          f"mean batch {batch or 0:.1f} (warm-up included)")
    print(f"overhead ratio (end-to-end / engine): {ratio:.2f}")


if __name__ == "__main__":
    main()
