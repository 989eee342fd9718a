"""Signed URLs in Qiniu's private-URL style, so that existing clients can use them. Off unless
VFRAME_SIGNING_KEYS names at least one key pair.

    signed = <url>&e=<unix deadline>              (?e= when the URL has no query)
    token  = <AccessKey>:<urlsafe base64 of HMAC-SHA1(SecretKey, signed)>
    final  = signed&token=<token>

<url> is the URL as the client sends it: scheme, host, path and query, percent-encoding as sent.
Behind a proxy that changes the scheme or host, set VFRAME_SIGNING_BASE to the public
`scheme://host[:port]` that clients sign. Several key pairs may be valid at once (rotation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from .errors import Forbidden
from .settings import Settings


def sign(url: str, access_key: str, secret_key: str, deadline: int) -> str:
    """`url` signed until `deadline` (seconds since the epoch), as a client would sign it."""
    signed = f"{url}{'&' if '?' in url else '?'}e={deadline}"
    return f"{signed}&token={access_key}:{_signature(secret_key.encode(), signed)}"


def _signature(secret: bytes, signed: str) -> str:
    digest = hmac.new(secret, signed.encode("latin-1"), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True)
class Signer:
    keys: dict[str, bytes]  # access key -> secret key
    base: str  # the public scheme://host[:port] clients sign; "" for the one the request came to

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer | None:
        if not settings.signing_keys.strip():
            return None
        keys = {}
        for pair in settings.signing_keys.split(","):
            access, sep, secret = pair.strip().partition(":")
            if not sep or not access or not secret:
                raise ValueError("VFRAME_SIGNING_KEYS must be ACCESSKEY:SECRETKEY pairs separated by commas")
            keys[access] = secret.encode()
        return cls(keys, settings.signing_base.rstrip("/"))

    def check(self, base: str, raw_path: bytes, raw_query: bytes, now: float | None = None) -> int:
        """The URL's deadline (`e`); Forbidden (403) unless the query ends in a valid, unexpired
        `e` and `token`."""
        signed_query, found, token = raw_query.rpartition(b"&token=")
        if not found:
            raise Forbidden("This server only answers signed URLs: the e and token parameters are missing.")
        last = signed_query.rpartition(b"&")[2] if b"&" in signed_query else signed_query
        if not last.startswith(b"e=") or not last[2:].isdigit():
            raise Forbidden("The signed URL must end with e=<deadline> before its token.")
        if int(last[2:]) < (time.time() if now is None else now):
            raise Forbidden("The signed URL has expired.")
        access, _, signature = token.decode("latin-1").partition(":")
        secret = self.keys.get(access)
        if secret is None:
            raise Forbidden("The signed URL's access key is not known here.")
        url = f"{self.base or base}{raw_path.decode('latin-1')}?{signed_query.decode('latin-1')}"
        if not hmac.compare_digest(_signature(secret, url).encode(), signature.encode("latin-1")):
            raise Forbidden("The URL's signature is wrong.")
        return int(last[2:])
