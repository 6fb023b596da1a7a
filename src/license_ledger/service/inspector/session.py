"""Signed-in sessions of the inspector in the service: a signed, expiring cookie.

Signing in with a token sets a cookie that holds when it expires and the
SHA-256 of the token (what the token file keeps, never the token), signed
with HMAC-SHA256 under a secret the process draws at start. Every page looks
that hash up in the token file again, so a revoked token signs its sessions
out at the next request. The cookie is HttpOnly, SameSite=Strict, limited to
the inspector's path, Secure when the request came over HTTPS (directly, or
through a proxy uvicorn trusts), and expires with the session.

Why not Litestar's session middleware: its client-side backend needs the
``cryptography`` package, and its cookie's Secure flag is fixed when the app
is built, not taken from the request. Cross-site posting is stopped by
Litestar's CSRF middleware and by an Origin check (:func:`same_origin`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

from litestar import Request
from litestar.datastructures import Cookie

__all__ = ["COOKIE", "LIFETIME", "Sessions", "same_origin"]

COOKIE = "license_ledger_session"
#: How long a signed-in session lasts (seconds).
LIFETIME = 8 * 3600
_VALUE = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})\.([0-9a-f]{64})")


class Sessions:
    """Issues and reads signed session cookies; the secret lives as long as the process."""

    def __init__(
        self,
        path: str,
        lifetime: int = LIFETIME,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.lifetime = lifetime
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode("ascii"), hashlib.sha256).hexdigest()

    def cookie(self, digest: str, secure: bool) -> Cookie:
        """The cookie that signs in the holder of the token whose SHA-256 is ``digest``."""
        expires = int(self._clock()) + self.lifetime
        text = f"{expires}.{digest}"
        return Cookie(
            key=COOKIE,
            value=f"{text}.{self._mac(text)}",
            path=self.path,
            max_age=self.lifetime,
            httponly=True,
            samesite="strict",
            secure=secure,
        )

    def ended(self, secure: bool) -> Cookie:
        """The cookie that signs out: empty, already expired."""
        return Cookie(
            key=COOKIE, value="", path=self.path, max_age=0, httponly=True, samesite="strict", secure=secure
        )

    def read(self, value: str | None) -> str | None:
        """The token hash a cookie signs in, or None: absent, malformed, forged or expired."""
        if not value:
            return None
        match = _VALUE.fullmatch(value)
        if match is None:
            return None
        expires, digest, mac = match.groups()
        if not hmac.compare_digest(mac, self._mac(f"{expires}.{digest}")):
            return None
        return digest if int(expires) > self._clock() else None


def secure(request: Request) -> bool:
    """Whether the request came over HTTPS (uvicorn applies a trusted proxy's X-Forwarded-Proto)."""
    return request.url.scheme == "https"


def same_origin(request: Request) -> bool:
    """False when the browser says the form was posted from another site (``Origin`` or ``Sec-Fetch-Site``)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # an older browser: the CSRF token still protects the form
    host = request.headers.get("host", "")
    return origin == f"{request.url.scheme}://{host}"
