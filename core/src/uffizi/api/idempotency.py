"""Idempotency for `POST /v1/jobs`: the `Idempotency-Key` header and the request hash.

The key is scoped to the caller's tenant and kept `idempotency_ttl_s` (24 h by default) by
the job store (`create_job`), which returns the job the key made when the request hash
matches and answers 422 `idempotency_key_reused` when it does not. The hash covers what the
request means, not how it was encoded: the resolved pipeline id, the options as sent, every
input (name and sha256 of the bytes sent, or the URL), and the webhook URL; so a retry as
multipart and as JSON with base64 of the same files is the same request.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from uffizi.errors import InvalidInput

HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _KEY_RE.match(key):
        raise InvalidInput(f"{HEADER} must be 1-255 visible ASCII characters",
                           details={"field": f"header.{HEADER}"})
    return key


def request_hash(*, pipeline: str, options: dict[str, Any], inputs: list[dict[str, Any]],
                 webhook_url: str | None) -> str:
    document = {"pipeline": pipeline, "options": options, "inputs": inputs, "webhook_url": webhook_url}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
