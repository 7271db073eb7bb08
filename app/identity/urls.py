"""Where things live as the browser sees them: this gateway's public base URL and the console's address."""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar import Request

from app.lib.errors import PermissionDenied
from app.settings import get_settings


def public_base(request: Request) -> str:
    """PROXY_BASE_URL when set (behind a proxy that rewrites hosts), else the URL this request came to."""
    configured = get_settings().proxy_base_url
    return (configured or str(request.base_url)).rstrip("/")


def console_url(request: Request) -> str:
    return f"{public_base(request)}/ui/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def require_same_origin(request: Request) -> None:
    """A browser always names the page that sent a POST; another site's page may not sign anyone in
    (login CSRF) or out. Clients without an Origin header (scripts) are not browsers and pass."""
    origin = request.headers.get("origin")
    if origin and origin.lower() != _origin(public_base(request)) and origin.lower() != _origin(str(request.base_url)):
        raise PermissionDenied("This request came from another site", code="cross_origin_refused")
