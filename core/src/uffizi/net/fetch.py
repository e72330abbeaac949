"""The one URL fetcher: every outbound request Uffizi makes for a user goes through here.

Image URLs in job submissions and `/v1/infer`, webhooks (and later DICOMweb and streams) use
`fetch_to_file` or `post`. The guard (`UrlGuard`) applies to every hop of a request:

- the scheme must be in `fetch_schemes` (https, http by default);
- the host is resolved once and every address it resolves to must be public
  (`ipaddress.is_global`): loopback, private, link-local (cloud metadata at 169.254.169.254
  included), CGNAT, multicast, reserved and unspecified addresses, and IPv4-mapped IPv6
  forms of them, are refused unless the host name, the address or a CIDR containing it is
  in `fetch_allow_hosts`;
- the connection is then made to the address that was checked (the URL's host stays in
  the Host header and TLS SNI / certificate check), so a DNS answer that changes between
  the check and the connect cannot move the request to an internal address;
- redirects are followed by hand (at most `MAX_REDIRECTS`), each new location checked the
  same way; environment proxies are ignored.

Limits: `fetch_max_bytes` (checked on Content-Length and while streaming) and
`fetch_timeout_s` (for the whole fetch, not per read). Refusals raise `FetchRefused`,
failures `FetchFailed`, oversize `PayloadTooLarge`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx

from uffizi.errors import FetchFailed, FetchRefused, PayloadTooLarge

if TYPE_CHECKING:
    from uffizi.settings import Settings

__all__ = ["UrlGuard", "Fetched", "fetch_to_file", "post", "MAX_REDIRECTS"]

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _split(value: str) -> list[str]:
    return [p.strip().lower() for p in value.split(",") if p.strip()]


class UrlGuard:
    """Decides whether a URL may be opened, and at which address."""

    def __init__(self, settings: Settings, *, refused: type[FetchRefused] = FetchRefused) -> None:
        self.schemes = set(_split(settings.fetch_schemes))
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in _split(settings.fetch_allow_hosts):
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(entry.rstrip("."))
        self.refused = refused

    def _allowed_ip(self, ip: IPAddress) -> bool:
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if any(ip in net for net in self.networks):
            return True
        return ip.is_global and not ip.is_multicast

    def check(self, url: str) -> tuple[httpx.URL, list[IPAddress]]:
        """The parsed URL and the addresses to connect to (in order); `FetchRefused` when
        any address the host resolves to is not allowed."""
        try:
            parsed = httpx.URL(url)
        except Exception:  # httpx.InvalidURL and friends
            raise self.refused(f"not a valid URL: {url[:200]!r}") from None
        scheme = parsed.scheme.lower()
        if scheme not in self.schemes:
            raise self.refused(
                f"URL scheme {scheme or '(none)'!r} is not allowed; allowed: "
                f"{', '.join(sorted(self.schemes))} (setting UFFIZI_FETCH_SCHEMES)",
                details={"url": url[:500], "scheme": scheme},
            )
        host = (parsed.host or "").lower().rstrip(".")
        if not host:
            raise self.refused(f"URL has no host: {url[:200]!r}", details={"url": url[:500]})
        port = parsed.port or (443 if scheme == "https" else 80)
        addresses = self._resolve(host, port)
        if host in self.hosts:
            return parsed, addresses
        for ip in addresses:
            if not self._allowed_ip(ip):
                what = f"{host} is" if host.strip("[]") == str(ip) else f"{host} resolves to {ip},"
                raise self.refused(
                    f"{what} a non-public address (loopback, private, link-local or "
                    "metadata); allow it with UFFIZI_FETCH_ALLOW_HOSTS if it is meant",
                    details={"url": url[:500], "host": host, "address": str(ip)},
                )
        return parsed, addresses

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc}", details={"host": host}) from None
        seen: list[IPAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if ip not in seen:
                seen.append(ip)
        if not seen:
            raise FetchFailed(f"{host} resolves to no address", details={"host": host})
        return seen


@dataclass
class Fetched:
    path: Path
    size: int
    url: str  # the final URL, after redirects
    content_type: str | None


def _pinned_request(client: httpx.Client, method: str, url: httpx.URL, ip: IPAddress, *,
                    content: bytes | None, headers: dict[str, str] | None) -> httpx.Request:
    host_header = url.netloc.decode("ascii")
    target = url.copy_with(host=str(ip))
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    hdrs = {"Host": host_header, "User-Agent": "uffizi-fetch", **(headers or {})}
    return client.build_request(method, target, content=content, headers=hdrs,
                                extensions=extensions)


def _send(client: httpx.Client, method: str, url: httpx.URL, addresses: list[IPAddress], *,
          content: bytes | None = None, headers: dict[str, str] | None = None,
          stream: bool = False) -> httpx.Response:
    """Send to the first address that accepts the connection (IPv6 then IPv4, say)."""
    error: Exception | None = None
    for ip in addresses:
        request = _pinned_request(client, method, url, ip, content=content, headers=headers)
        try:
            return client.send(request, stream=stream)
        except httpx.ConnectError as exc:
            error = exc
        except httpx.HTTPError as exc:
            error = exc
            break
    raise FetchFailed(f"cannot reach {str(url)[:200]}: {error}", details={"url": str(url)[:500]})


def _client(timeout_s: float) -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False, trust_env=False)


def fetch_to_file(url: str, *, settings: Settings, dest_dir: Path | None = None,
                  max_bytes: int | None = None, timeout_s: float | None = None) -> Fetched:
    """GET `url` into a new file in `dest_dir` (a temp dir by default), within the limits."""
    guard = UrlGuard(settings)
    limit = max_bytes or settings.fetch_max_bytes
    budget = timeout_s or settings.fetch_timeout_s
    deadline = time.monotonic() + budget
    current = url
    with _client(budget) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            parsed, addresses = guard.check(current)
            response = _send(client, "GET", parsed, addresses, stream=True)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise FetchFailed(f"{current[:200]} answered HTTP {response.status_code}",
                                      details={"url": current[:500], "status": response.status_code})
                return _save(response, current, limit, deadline, dest_dir)
            finally:
                response.close()
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {url[:200]}", details={"url": url[:500]})


def _save(response: httpx.Response, url: str, limit: int, deadline: float,
          dest_dir: Path | None) -> Fetched:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{url[:200]} is {declared} bytes; the limit is {limit} "
                              "(setting UFFIZI_FETCH_MAX_BYTES)", details={"limit": limit})
    fd, name = tempfile.mkstemp(prefix="fetch-", dir=dest_dir)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"{url[:200]} is over {limit} bytes "
                                              "(setting UFFIZI_FETCH_MAX_BYTES)", details={"limit": limit})
                    if time.monotonic() > deadline:
                        raise FetchFailed(f"fetching {url[:200]} took too long "
                                          "(setting UFFIZI_FETCH_TIMEOUT_S)", details={"url": url[:500]})
                    out.write(chunk)
            except httpx.HTTPError as exc:
                raise FetchFailed(f"cannot fetch {url[:200]}: {exc}", details={"url": url[:500]}) from None
    except BaseException:
        os.unlink(name)
        raise
    return Fetched(Path(name), size, url, response.headers.get("content-type"))


def post(url: str, *, content: bytes, headers: dict[str, str], settings: Settings,
         timeout_s: float | None = None, refused: type[FetchRefused] = FetchRefused) -> int:
    """POST `content` to `url` through the guard (no redirects followed); the status code.
    Transport failures raise `FetchFailed`."""
    guard = UrlGuard(settings, refused=refused)
    parsed, addresses = guard.check(url)
    budget = timeout_s or settings.fetch_timeout_s
    with _client(budget) as client:
        return _send(client, "POST", parsed, addresses, content=content, headers=headers).status_code
