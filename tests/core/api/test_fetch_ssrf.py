"""The one URL fetcher and its guard: schemes, non-public addresses (loopback, private,
link-local / metadata, IPv4-mapped IPv6) refused unless allow-listed, every redirect hop
checked, size and time limits; and the same guard on job inputs given as URLs."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from uffizi.errors import FetchFailed, FetchRefused, PayloadTooLarge
from uffizi.net.fetch import UrlGuard, fetch_to_file
from uffizi.settings import Settings


@pytest.fixture
def origin(make_png) -> Iterator[str]:
    """A local web server: /img.png, /redirect?to=..., /slow, /big."""
    image = make_png(40, 30)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.end_headers()
            elif self.path == "/slow":
                self.send_response(200)
                self.end_headers()
                for _ in range(50):
                    self.wfile.write(b"x" * 10)
                    self.wfile.flush()
                    time.sleep(0.1)
            elif self.path == "/big":
                self.send_response(200)
                self.end_headers()  # no Content-Length: the limit holds while streaming
                self.wfile.write(b"y" * 5000)
            else:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(image)))
                self.end_headers()
                self.wfile.write(image)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _settings(tmp_path, **kw) -> Settings:
    return Settings(home=tmp_path, **kw)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost/x", "http://10.1.2.3/x", "http://192.168.0.1/",
    "http://172.16.5.5/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[fd00:ec2::254]/", "http://100.64.0.1/", "http://0.0.0.0/",
    "http://224.0.0.1/",
])
def test_non_public_addresses_are_refused(tmp_path, url):
    with pytest.raises(FetchRefused) as info:
        UrlGuard(_settings(tmp_path)).check(url)
    assert info.value.code == "fetch_refused" and "UFFIZI_FETCH_ALLOW_HOSTS" in info.value.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a", "gopher://x/", "not a url"])
def test_schemes_off_the_list_are_refused(tmp_path, url):
    with pytest.raises(FetchRefused):
        UrlGuard(_settings(tmp_path)).check(url)


def test_public_addresses_pass_and_allow_lists_work(tmp_path):
    guard = UrlGuard(_settings(tmp_path))
    assert [str(a) for a in guard.check("https://93.184.216.34/img.png")[1]] == ["93.184.216.34"]
    allowed = UrlGuard(_settings(tmp_path, fetch_allow_hosts="10.0.0.0/8, localhost"))
    assert str(allowed.check("http://10.9.8.7/")[1][0]) == "10.9.8.7"
    assert allowed.check("http://localhost:1234/")[1]
    with pytest.raises(FetchRefused):
        allowed.check("http://192.168.1.1/")
    with pytest.raises(FetchRefused):
        UrlGuard(_settings(tmp_path, fetch_schemes="https")).check("http://93.184.216.34/")


def test_fetch_limits_and_redirect_hops(tmp_path, origin):
    port = origin.rsplit(":", 1)[1]
    with pytest.raises(FetchRefused):
        fetch_to_file(f"{origin}/img.png", settings=_settings(tmp_path))
    ok = _settings(tmp_path, fetch_allow_hosts="127.0.0.1")
    got = fetch_to_file(f"{origin}/redirect?to=/img.png", settings=ok, dest_dir=tmp_path)
    assert got.path.read_bytes().startswith(b"\x89PNG") and got.url.endswith("/img.png")
    got.path.unlink()
    # an allowed name that redirects to an address only the name was allowed for: refused
    by_name = _settings(tmp_path, fetch_allow_hosts="localhost")
    with pytest.raises(FetchRefused):
        fetch_to_file(f"http://localhost:{port}/redirect?to=http://127.0.0.1:{port}/img.png",
                      settings=by_name)
    with pytest.raises(FetchRefused):
        fetch_to_file(f"{origin}/redirect?to=http://169.254.169.254/latest", settings=ok)
    with pytest.raises(PayloadTooLarge):
        fetch_to_file(f"{origin}/big", settings=ok, max_bytes=1000, dest_dir=tmp_path)
    with pytest.raises(PayloadTooLarge):
        fetch_to_file(f"{origin}/img.png", settings=ok, max_bytes=10)  # Content-Length says so
    started = time.monotonic()
    with pytest.raises(FetchFailed):
        fetch_to_file(f"{origin}/slow", settings=_settings(tmp_path, fetch_allow_hosts="127.0.0.1",
                                                            fetch_timeout_s=1.0))
    assert time.monotonic() - started < 3
    assert list(tmp_path.glob("fetch-*")) == []  # a refused download leaves nothing behind


def test_job_inputs_by_url_use_the_guard(service, origin):
    closed = service(runners=1)
    with closed.client() as c:
        r = c.post("/v1/jobs", json={"pipeline": "core/florence", "urls": [f"{origin}/img.png"]})
        assert r.status_code == 422 and r.json()["error"]["code"] == "fetch_refused"
        r = c.post("/v1/infer", json={"task": "<CAPTION>", "image_url": "http://169.254.169.254/x"})
        assert r.status_code in (422, 503)
    opened = service(runners=1, fetch_allow_hosts="127.0.0.1")
    opened.wait_ready()
    with opened.client() as c:
        r = c.post("/v1/jobs", json={"pipeline": "core/florence", "options": {"tasks": ["<CAPTION>"]},
                                     "urls": [f"{origin}/img.png"]})
        assert r.status_code == 202, r.text
        assert r.json()["inputs"][0]["url"] == f"{origin}/img.png"
        assert r.json()["inputs"][0]["media_type"] == "image/png"
        assert opened.wait_job(c, r.json()["id"])["status"] == "succeeded"
        r = c.post("/v1/infer", json={"task": "<CAPTION>", "image_url": f"{origin}/img.png"})
        assert r.status_code == 200 and r.json()["task"] == "<CAPTION>"
        r = c.post("/v1/jobs", data={"pipeline": "core/florence", "urls": f"{origin}/redirect?to=http://10.0.0.1/"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "fetch_refused"
