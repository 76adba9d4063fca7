"""Who may talk to `deepatoms serve`: the Host header must name this server (a page of another
site that rebinds its DNS name to 127.0.0.1 sends its own name), a browser's Origin must be this
server, and off loopback every API call carries the token printed at start (as Jupyter does):
`Authorization: Bearer TOKEN`, or `?token=TOKEN` (the pages keep it from their first URL)."""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _host_name(value: str) -> str:
    """`127.0.0.1:8765` → `127.0.0.1`; `[::1]:8765` → `::1`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """The checks of one server: `bind` is its --host; `token` None on loopback."""

    def __init__(self, bind: str, token: str | None):
        self.bind, self.token = bind, token
        self.names = set(LOOPBACK_NAMES) | {bind.lower()}

    def host_ok(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = _host_name(host_header)
        return name in self.names or (self.bind in ("0.0.0.0", "::") and self.token is not None)

    def origin_ok(self, origin: str | None, host_header: str | None) -> bool:
        """No Origin (curl, a script) or the page's own origin."""
        if origin is None:
            return True
        parts = urlsplit(origin)
        return bool(host_header) and parts.netloc.lower() == host_header.strip().lower()

    def token_ok(self, authorization: str | None, query_token: str | None,
                 cookie_token: str | None = None) -> bool:
        if self.token is None:
            return True
        given = query_token or cookie_token or ""
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())
