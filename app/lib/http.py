"""The process's one upstream HTTP client: pooled keep-alive connections, explicit timeouts."""

from __future__ import annotations

import httpx

from app.lib.http_transport import LeanTransport
from app.settings import Settings


class _NoCookies(httpx.Cookies):
    """Upstream cookies are never kept: one tenant's upstream must not set what another's receives."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class UpstreamClient(httpx.AsyncClient):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, value) -> None:  # httpx's constructor assigns here; nothing is kept
        self._cookies = _NoCookies()


def create_upstream_client(settings: Settings) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=256, keepalive_expiry=60.0)
    return UpstreamClient(
        transport=LeanTransport(limits=limits),
        # Relayed bytes go out as they came in: no compression to undo, no CPU spent on it.
        headers={"accept-encoding": "identity"},
        timeout=httpx.Timeout(
            connect=settings.upstream_connect_timeout,
            read=settings.upstream_read_timeout,
            write=30.0,
            pool=10.0,
        ),
        follow_redirects=False,
        trust_env=False,  # never route tenant traffic through a proxy picked up from the environment
    )
