"""Webhooks: a job's final state reaches a local receiver, signed with the tenant's secret
(HMAC-SHA256 over the body), retried with backoff after a failure; webhook URLs the guard
refuses are refused at submit."""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time

import pytest

from uffizi.api.webhooks import SIGNATURE_HEADER, sign, verify


@pytest.fixture
def receiver():
    """A local webhook receiver: answers 500 to the first `fail_first` deliveries, then 204."""
    got: queue.Queue = queue.Queue()
    state = {"fail_first": 0, "seen": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["seen"] += 1
            failing = state["seen"] <= state["fail_first"]
            got.put({"body": body, "headers": dict(self.headers), "at": time.monotonic(), "failed": failing})
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got, state
    server.shutdown()


def test_webhook_is_delivered_signed_and_retried(service, receiver, make_png):
    url, got, state = receiver
    state["fail_first"] = 1
    live = service(runners=1, fetch_allow_hosts="127.0.0.1")
    live.wait_ready()
    with live.client() as c:
        secret = c.get("/v1/webhooks/secret").json()["secret"]
        r = c.post("/v1/jobs", data={"pipeline": "test/slow", "options": '{"steps": 2, "delay_s": 0}',
                                     "webhook_url": url}, files=[("inputs", ("a.png", make_png()))])
        assert r.status_code == 202 and r.json()["webhook_url"] == url
        job_id = r.json()["id"]
        first = got.get(timeout=30)
        second = got.get(timeout=30)
    assert first["failed"] and not second["failed"]
    assert second["at"] - first["at"] >= 0.4  # backoff before the retry
    for delivery in (first, second):
        body, headers = delivery["body"], delivery["headers"]
        assert verify(secret, body, headers[SIGNATURE_HEADER])
        assert headers[SIGNATURE_HEADER] == sign(secret, body)
        assert headers["X-Uffizi-Event"] == "job.finished"
        document = json.loads(body)
        assert document["job"]["id"] == job_id and document["job"]["status"] == "succeeded"
        assert document["job"]["artifacts"][0]["name"] == "summary.txt"
    assert not verify("another secret", second["body"], second["headers"][SIGNATURE_HEADER])
    assert not verify(secret, second["body"] + b" ", second["headers"][SIGNATURE_HEADER])
    time.sleep(1.0)
    assert got.empty()  # delivered once, not again
    assert 'uffizi_webhook_deliveries_total{outcome="delivered"} 1.0' in live.client().get("/metrics").text


def test_failed_and_canceled_jobs_are_delivered_too(service, receiver, make_png):
    url, got, _ = receiver
    live = service(runners=1, fetch_allow_hosts="127.0.0.1")
    with live.client() as c:
        r = c.post("/v1/jobs", data={"pipeline": "core/florence", "webhook_url": url},
                   files=[("inputs", ("cut.png", make_png(100, 100)[:100]))])
        document = json.loads(got.get(timeout=60)["body"])
        assert document["job"]["id"] == r.json()["id"] and document["job"]["status"] == "failed"
        assert document["job"]["error"]["code"]


def test_webhook_urls_the_guard_refuses_are_422(service, receiver, make_png):
    url, got, _ = receiver
    live = service(runners=1)  # no allow-list: loopback is refused
    with live.client() as c:
        for bad in (url, "http://169.254.169.254/hook", "ftp://example.com/hook", "http://10.0.0.5/h"):
            r = c.post("/v1/jobs", data={"pipeline": "test/slow", "webhook_url": bad},
                       files=[("inputs", ("a.png", make_png()))])
            assert r.status_code == 422, bad
            assert r.json()["error"]["code"] == "webhook_refused"
        assert c.get("/v1/jobs").json()["items"] == []
