"""Qiniu management tokens, as the Qiniu SDKs sign pfop and prefop requests, checked against
VFRAME_SIGNING_KEYS in constant time.

    Authorization: QBox <AK>:<urlsafe b64 HMAC-SHA1(SK, path[?query] "\\n" [form body])>
    Authorization: Qiniu <AK>:<urlsafe b64 HMAC-SHA1(SK, "METHOD path[?query]\\nHost: host"
                   ["\\nContent-Type: type"] ["\\n" X-Qiniu-* headers, sorted] "\\n\\n" [body])>

The body is signed when it is a form (QBox) or has a content type other than octet-stream
(Qiniu). A `Qiniu` token's X-Qiniu-Date must be within 15 minutes of now, as Qiniu's own servers
require: an older one is expired."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from ..errors import Forbidden

FORM = "application/x-www-form-urlencoded"
SKEW_SECONDS = 15 * 60
NO_KEYS = "This server has no signing keys (VFRAME_SIGNING_KEYS), so it takes no jobs: pfop needs a management token."


def check(keys: Mapping[str, bytes], method: str, target: str, headers: Mapping[str, str], body: bytes,
          now: float | None = None) -> str:
    """The access key of a valid management token on this request; Forbidden (403) otherwise.
    `target`: the path and query as sent; `headers`: lower-case names."""
    if not keys:
        raise Forbidden(NO_KEYS)
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    access, _, signature = token.strip().partition(":")
    if scheme not in ("QBox", "Qiniu") or not access or not signature:
        raise Forbidden("pfop needs a Qiniu management token: Authorization: QBox <AccessKey>:<sign>.")
    secret = keys.get(access)
    if secret is None:
        raise Forbidden("The management token's access key is not known here.")
    content_type = headers.get("content-type", "")
    if scheme == "QBox":
        signed = target.encode("latin-1") + b"\n" + (body if content_type == FORM else b"")
    else:
        _check_date(headers.get("x-qiniu-date"), time.time() if now is None else now)
        signed = _qiniu_data(method, target, headers, body)
    expected = base64.urlsafe_b64encode(hmac.new(secret, signed, hashlib.sha1).digest())
    if not hmac.compare_digest(expected, signature.encode("latin-1")):
        raise Forbidden("The management token's signature is wrong.")
    return access


def _qiniu_data(method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
    content_type = headers.get("content-type", "")
    data = f"{method} {target}\nHost: {headers.get('host', '')}"
    if content_type:
        data += f"\nContent-Type: {content_type}"
    qiniu = sorted((name, value) for name, value in headers.items() if name.startswith("x-qiniu-") and len(name) > 8)
    if qiniu:
        data += "\n" + "\n".join(f"{_canonical(name)}: {value}" for name, value in qiniu)
    data += "\n\n"
    signed = data.encode("latin-1")
    if content_type and content_type != "application/octet-stream":
        signed += body
    return signed


def _canonical(name: str) -> str:
    """A header name as Go's CanonicalMIMEHeaderKey (the SDKs sign it so): X-Qiniu-Date."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _check_date(value: str | None, now: float) -> None:
    if value is None:
        return  # a token signed without a timestamp (the SDKs' option): no expiry to check
    try:
        signed = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise Forbidden("X-Qiniu-Date must be YYYYMMDDTHHMMSSZ.") from None
    if abs(now - signed) > SKEW_SECONDS:
        raise Forbidden("The management token has expired: its X-Qiniu-Date is more than 15 minutes from now.")
