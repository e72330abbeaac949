"""The service's own endpoints: pipelines, tasks, plugins, /healthz, /readyz (ready, model
still loading or failed with the reason, broker down), /metrics, and a complete OpenAPI."""

from __future__ import annotations

import socket
import time

import pytest

from uffizi.api.deps import PrincipalDep  # resolved by name in the plugin's route below


def test_catalogue(service):
    live = service(runners=0)
    with live.client() as c:
        pipelines = {p["id"]: p for p in c.get("/v1/pipelines").json()}
        florence = pipelines["core/florence@v1"]
        assert florence["media_types"] == ["image/*"] and florence["plugin"] == "uffizi.builtin.core_pipeline"
        assert florence["plugin_version"] and "tasks" in florence["options_schema"]["properties"]
        assert pipelines["test/slow@v1"]["options_schema"]["properties"]["steps"]["default"] == 5
        tasks = c.get("/v1/tasks").json()
        assert len(tasks) >= 15 and {"token", "name", "input", "result"} <= set(tasks[0])
        assert "<REGION_TO_OCR>" in {t["token"] for t in tasks}
        plugins = {p["name"]: p for p in c.get("/v1/plugins").json()}
        assert plugins["uffizi.builtin.core_pipeline"]["status"] == "ok"
        assert c.get("/healthz").json() == {"status": "ok"}


def test_readyz_and_jobs_when_the_model_cannot_load(service, make_png, tmp_path):
    live = service(runners=1, model=str(tmp_path / "no-such-model"))
    with live.client() as c:
        deadline = time.monotonic() + 30
        while (r := c.get("/readyz")).json()["checks"]["model"]["state"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.status_code == 503
        report = r.json()
        assert report["ready"] is False and report["missing"] == ["model"]
        assert report["checks"]["database"]["ok"] is True
        assert report["checks"]["model"]["state"] == "failed"
        assert "UFFIZI_MODEL" in report["checks"]["model"]["reason"]
        r = c.post("/v1/infer", data={"task": "<CAPTION>"}, files={"image": ("a.png", make_png())})
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"
        assert "UFFIZI_MODEL" in r.json()["error"]["message"]
        job = c.post("/v1/jobs", data={"pipeline": "test/slow"}, files=[("inputs", ("a.png", make_png()))]).json()
        failed = live.wait_job(c, job["id"])
        assert failed["status"] == "failed" and failed["error"]["code"] == "model_unavailable"
        assert "UFFIZI_MODEL" in failed["error"]["message"]


def test_readyz_says_loading_then_ready(service):
    live = service(runners=0, preload=False)
    with live.client() as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["model"]["state"] == "idle"
        live.state.model.start()
        live.wait_ready()
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json() == {**r.json(), "ready": True, "missing": []}


def test_readyz_checks_the_broker(service):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once closed
    live = service(runners=0, broker_url=f"redis://127.0.0.1:{dead}/0")
    live.wait_ready()
    r = live.client().get("/readyz")
    assert r.status_code == 503 and r.json()["missing"] == ["broker"]
    assert "unreachable" in r.json()["checks"]["broker"]["reason"]


@pytest.mark.needs_services
def test_readyz_with_a_live_redis(service):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("Redis at 127.0.0.1:6379 is unreachable")
    live = service(runners=0, broker_url="redis://127.0.0.1:6379/0")
    live.wait_ready()
    r = live.client().get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["broker"] == {"ok": True}


def test_metrics(service, make_png):
    live = service(runners=1)
    live.wait_ready()
    with live.client() as c:
        job = c.post("/v1/jobs", data={"pipeline": "core/florence"}, files=[("inputs", ("a.png", make_png()))]).json()
        live.wait_job(c, job["id"])
        c.get("/v1/jobs/job_nope")
        text = c.get("/metrics").text
    assert 'uffizi_http_requests_total{method="POST",route="/v1/jobs",status="202"} 1.0' in text
    assert 'uffizi_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1.0' in text
    assert 'uffizi_jobs{status="succeeded"} 1.0' in text and 'uffizi_jobs{status="pending"} 0.0' in text
    assert "uffizi_queue_depth 0.0" in text
    assert 'uffizi_jobs_submitted_total{pipeline="core/florence@v1"} 1.0' in text
    assert "uffizi_inference_latency_seconds_count 1.0" in text  # the job's one image
    assert "uffizi_inference_batch_size_count 1.0" in text
    assert "uffizi_images_per_second" in text and "uffizi_http_request_duration_seconds_bucket" in text


def test_openapi_is_complete(service):
    live = service(runners=0)
    schema = live.client().get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        ("post", "/v1/infer"), ("post", "/v1/jobs"), ("get", "/v1/jobs"), ("get", "/v1/jobs/{job_id}"),
        ("get", "/v1/jobs/{job_id}/result"), ("get", "/v1/jobs/{job_id}/artifacts/{name}"),
        ("get", "/v1/jobs/{job_id}/events"), ("post", "/v1/jobs/{job_id}/cancel"),
        ("post", "/v1/jobs/{job_id}/retry"), ("delete", "/v1/jobs/{job_id}"), ("get", "/v1/pipelines"),
        ("get", "/v1/tasks"), ("get", "/v1/plugins"), ("get", "/healthz"), ("get", "/readyz"),
        ("get", "/metrics"), ("post", "/v1/keys"), ("get", "/v1/keys"), ("delete", "/v1/keys/{key_id}"),
    }
    found = {(m, p) for p, ops in paths.items() for m in ops}
    assert expected <= found
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            assert "200" in op["responses"] or "201" in op["responses"] or "202" in op["responses"] \
                or "204" in op["responses"], (method, path)
    components = schema["components"]["schemas"]
    for name in ("JobSubmit", "InferJson", "JobOut", "JobPage", "TaskResult", "Readiness", "ErrorBody"):
        assert name in components, name
    body = paths["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(body) >= {"multipart/form-data", "application/json"}
    assert components["JobSubmit"].get("examples") and components["JobOut"].get("examples")
    assert paths["/v1/jobs"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("JobOut")
    security = schema["components"].get("securitySchemes", {})
    assert {"bearer", "apiKey"} <= set(security)


class RoutesPlugin:
    """A plugin with its own router: mounted under /v1/plugins/<name>/, behind the keys."""

    __name__ = "acme-routes"

    @staticmethod
    def _router():
        from fastapi import APIRouter

        router = APIRouter()

        @router.get("/hello")
        def hello(principal: PrincipalDep) -> dict:
            return {"tenant": principal.tenant}

        return router

    def register_routes(self, register):
        register(self._router())


RoutesPlugin.register_routes = __import__("uffizi").hookimpl(RoutesPlugin.register_routes)


def test_plugin_routes_are_mounted_behind_the_keys(service):
    from uffizi.api.auth import create_key

    live = service(runners=0, plugins=(RoutesPlugin(),))
    with live.client() as c:
        assert c.get("/v1/plugins/acme-routes/hello").json() == {"tenant": "default"}
        with live.state.db.session() as s:
            key = create_key(s, tenant="acme", scopes="read")[1]
        time.sleep(1.1)
        assert c.get("/v1/plugins/acme-routes/hello").status_code == 401
        assert c.get("/v1/plugins/acme-routes/hello", headers={"X-API-Key": key}).json() == {"tenant": "acme"}
