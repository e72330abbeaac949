"""`Client`: the Python client of the Uffizi REST API (sync, httpx).

    from uffizi.client import Client

    with Client("http://127.0.0.1:8000", api_key="uffizi_...") as client:
        job = client.submit("core/florence@v1", ["street.jpg"], options={"tasks": ["<OD>"]})
        job = client.wait(job["id"], progress=lambda job: print(job["progress"]))
        result = client.result(job["id"])              # the json export, parsed
        png = client.result(job["id"], format="png")    # bytes
        answer = client.infer("street.jpg", "<CAPTION>")

Jobs are returned as the API's JSON (dicts). Every error answer raises `ApiError`, a
`UffiziError` carrying the server's code, message, details and HTTP status. The key comes
from `api_key` or the environment (`UFFIZI_API_KEY`); the URL from `UFFIZI_URL` when not given.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from uffizi.errors import UffiziError

__all__ = ["Client", "ApiError", "FINAL_STATUSES"]

FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})
DEFAULT_URL = "http://127.0.0.1:8000"
FileLike = str | os.PathLike | bytes | BinaryIO


class ApiError(UffiziError):
    """An error answer from the server: `code`, `message`, `details` and `status` as sent."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code  # type: ignore[misc]
        self.status = status  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"


def _file(item: FileLike, index: int, opened: list[BinaryIO]) -> tuple[str, Any]:
    """(name, content) for an upload; files opened here are added to `opened` (to close)."""
    if isinstance(item, bytes):
        return f"input-{index}", item
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        handle = path.open("rb")
        opened.append(handle)
        return path.name, handle
    return Path(str(getattr(item, "name", f"input-{index}"))).name, item


class Client:
    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = (base_url or os.environ.get("UFFIZI_URL") or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get("UFFIZI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                  transport=transport, trust_env=False)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing ----------------------------------------------------------------------------
    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        try:
            error = response.json()["error"]
            raise ApiError(response.status_code, error["code"], error["message"], error.get("details"))
        except (ValueError, KeyError, TypeError):
            raise ApiError(response.status_code, "http_error",
                           f"HTTP {response.status_code}: {response.text[:200]}") from None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._check(self._http.request(method, path, **kwargs))
        except httpx.TransportError as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {exc}") from None

    # --- jobs --------------------------------------------------------------------------------
    def submit(self, pipeline: str, inputs: Iterable[FileLike] = (), *, options: dict[str, Any] | None = None,
               urls: Iterable[str] = (), webhook_url: str | None = None,
               idempotency_key: str | None = None) -> dict[str, Any]:
        """Upload files (paths, bytes or open binary files) and/or URLs; the new job."""
        opened: list[BinaryIO] = []
        data: dict[str, Any] = {"pipeline": pipeline, "options": json.dumps(options or {})}
        if urls:
            data["urls"] = list(urls)
        if webhook_url:
            data["webhook_url"] = webhook_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            files = [_file(item, i, opened) for i, item in enumerate(inputs)]
            if not files:  # URLs only: the same request as JSON
                body = {"pipeline": pipeline, "options": options or {}, "urls": list(urls),
                        "webhook_url": webhook_url}
                return self.request("POST", "/v1/jobs", json=body, headers=headers).json()
            return self.request("POST", "/v1/jobs", data=data, headers=headers,
                                files=[("inputs", f) for f in files]).json()
        finally:
            for handle in opened:
                handle.close()

    def get(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}").json()

    def list(self, *, status: str | None = None, pipeline: str | None = None, limit: int = 50,
             cursor: str | None = None, created_after: str | None = None,
             created_before: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"status": status, "pipeline": pipeline, "limit": limit, "cursor": cursor,
                                    "created_after": created_after, "created_before": created_before}.items()
                  if v is not None}
        return self.request("GET", "/v1/jobs", params=params).json()

    def iter_jobs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.list(cursor=cursor, **filters)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def retry(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/retry").json()

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"/v1/jobs/{job_id}")

    def events(self, job_id: str, *, timeout: float | None = None) -> Iterator[tuple[str, Any]]:
        """The job's server-sent events as (event, data) until the stream ends."""
        with self._http.stream("GET", f"/v1/jobs/{job_id}/events",
                               timeout=httpx.Timeout(timeout or 60.0, read=timeout)) as response:
            if not response.is_success:
                response.read()
                self._check(response)
            event, data = "message", []
            for line in response.iter_lines():
                if not line:
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())

    def wait(self, job_id: str, *, timeout: float | None = None,
             progress: Callable[[dict[str, Any]], None] | None = None, poll_s: float = 1.0) -> dict[str, Any]:
        """Block until the job ends; returns it. `progress(job)` is called on every change
        (the job dict, `progress` in 0..1). Follows the event stream, polling if it breaks."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job: dict[str, Any] = {}
        try:
            for event, data in self.events(job_id, timeout=timeout):
                if event == "status":
                    job = data
                elif event == "progress" and job:
                    job = {**job, "progress": data["progress"], "progress_detail": data.get("detail")}
                elif event == "error":
                    raise ApiError(404, data.get("code", "job_not_found"), data.get("message", ""))
                if progress and job:
                    progress(job)
                if event == "end":
                    break
        except (httpx.TransportError, httpx.StreamError):
            pass  # fall back to polling
        while True:
            job = self.get(job_id)
            if progress:
                progress(job)
            if job["status"] in FINAL_STATUSES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")
            time.sleep(poll_s)

    def result(self, job_id: str, *, format: str = "json") -> Any:
        """The exported result: the parsed document for json, else the bytes sent."""
        response = self.request("GET", f"/v1/jobs/{job_id}/result", params={"format": format})
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def artifact(self, job_id: str, name: str) -> bytes:
        return self.request("GET", f"/v1/jobs/{job_id}/artifacts/{name}").content

    # --- synchronous inference and the catalogue ---------------------------------------------
    def infer(self, image: FileLike | None = None, task: str = "<CAPTION>", *, text: str | None = None,
              region: list[float] | None = None, classes: list[str] | None = None,
              adapter: str | None = None, image_url: str | None = None,
              max_new_tokens: int | None = None) -> dict[str, Any]:
        """One task on one image (a path, bytes, an open file, or `image_url`); the TaskResult."""
        fields = {"task": task, "text": text, "adapter": adapter, "image_url": image_url,
                  "region": region, "classes": classes, "max_new_tokens": max_new_tokens}
        fields = {k: v for k, v in fields.items() if v is not None}
        if image is None:
            return self.request("POST", "/v1/infer", json=fields).json()
        form = {k: json.dumps(v) if isinstance(v, (list, int)) else v for k, v in fields.items()}
        opened: list[BinaryIO] = []
        try:
            name, content = _file(image, 0, opened)
            return self.request("POST", "/v1/infer", data=form, files={"image": (name, content)}).json()
        finally:
            for handle in opened:
                handle.close()

    def pipelines(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/pipelines").json()

    def tasks(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/tasks").json()

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/healthz").json()

    def ready(self) -> dict[str, Any]:
        """The readiness report, whether ready (200) or not (503)."""
        response = self._http.get("/readyz")
        return response.json()
