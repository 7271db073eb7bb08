"""/sso/authorize, /sso/callback (an account's own IdP), /zitadel/authorize, /zitadel/callback (the global
Zitadel), and /sso/config (the account admin's settings of the account's IdP)."""

from __future__ import annotations

from litestar import Controller, Request, Response, delete, get, put
from litestar.datastructures import Cookie
from litestar.response import Redirect

from app.admin.access import PRINCIPAL, permitted
from app.auth.principal import Principal
from app.identity.sessions import IssuedSession, request_cookies, session_cookies
from app.identity.sso import service
from app.identity.sso.config import SsoSettings, SsoSettingsUpdate
from app.identity.sso.flow import BINDING_COOKIE, STATE_TTL
from app.identity.urls import console_url, public_base
from app.runtime import runtime


def _binding(value: str, max_age: int) -> Cookie:
    return Cookie(key=BINDING_COOKIE, value=value, max_age=max_age, path="/", secure=True, httponly=True,
                  samesite="lax")


def _to_provider(url: str, browser: str) -> Response:
    return Redirect(url, status_code=302, cookies=[_binding(browser, STATE_TTL)])


def _to_console(request: Request, issued: IssuedSession) -> Response:
    cookies = [*session_cookies(issued, runtime().auth.sessions.ttl), _binding("", 0)]
    return Redirect(console_url(request), status_code=302, cookies=cookies)


def _callback_params(request: Request) -> dict[str, str | None]:
    return {name: request.query_params.get(name) for name in ("code", "state", "iss", "error")}


class SsoController(Controller):
    tags = ["single sign-on"]

    @get("/sso/authorize")
    async def authorize(self, request: Request, account_id: str | None = None, email: str | None = None) -> Response:
        return _to_provider(*await service.start_account(public_base(request), account_id, email))

    @get("/sso/callback")
    async def callback(self, request: Request) -> Response:
        browser = request_cookies(request.headers).get(BINDING_COOKIE)
        return _to_console(request, await service.finish(service.ACCOUNT_FLOW, _callback_params(request), browser))

    @get("/zitadel/authorize")
    async def zitadel_authorize(self, request: Request, email: str | None = None) -> Response:
        return _to_provider(*await service.start_zitadel(public_base(request), email))

    @get("/zitadel/callback")
    async def zitadel_callback(self, request: Request) -> Response:
        browser = request_cookies(request.headers).get(BINDING_COOKIE)
        return _to_console(request, await service.finish(service.ZITADEL_FLOW, _callback_params(request), browser))


class SsoConfigController(Controller):
    path = "/sso/config"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["single sign-on"]

    @get("/")
    async def show(self, request: Request, principal: Principal) -> SsoSettings:
        return await service.show(public_base(request))

    @put("/")
    async def replace(self, request: Request, principal: Principal, data: SsoSettingsUpdate) -> SsoSettings:
        return await service.replace(principal, data, public_base(request))

    @delete("/", status_code=200)
    async def remove(self, request: Request, principal: Principal) -> SsoSettings:
        return await service.remove(public_base(request))
