"""/v2/login/resolve, /v2/login, /v2/logout, /v2/session: the console's sign-in, sign-out and "who am I"."""

from __future__ import annotations

from urllib.parse import parse_qsl

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from app.identity import login
from app.identity.login import LoginResolve, LoginRoute, PasswordLogin, SessionView
from app.identity.sessions import cleared_cookies, session_cookies
from app.identity.urls import console_url, public_base, require_same_origin
from app.lib.errors import InvalidRequest
from app.runtime import runtime

_FORM = "application/x-www-form-urlencoded"


async def _login_body(request: Request) -> tuple[PasswordLogin, bool]:
    """JSON, or an HTML form post (then the answer is a redirect to the console)."""
    raw = await request.body()
    is_form = request.headers.get("content-type", "").split(";")[0].strip().lower() == _FORM
    try:
        if is_form:
            fields = dict(parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=10))
            return msgspec.convert(fields, PasswordLogin), True
        return msgspec.json.decode(raw or b"{}", type=PasswordLogin), False
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError):
        raise InvalidRequest("Send a JSON object {email, password} or a form with the same fields") from None


class LoginController(Controller):
    path = "/v2"
    tags = ["console login"]

    @post("/login/resolve", status_code=200)
    async def resolve(self, request: Request, data: LoginResolve) -> LoginRoute:
        return await login.resolve(data.email, public_base(request))

    @post("/login", status_code=200)
    async def sign_in(self, request: Request) -> Response:
        require_same_origin(request)
        data, is_form = await _login_body(request)
        issued = await login.password_login(data, request.client.host if request.client else "")
        cookies = session_cookies(issued, runtime().auth.sessions.ttl)
        if is_form:
            return Redirect(console_url(request), status_code=303, cookies=cookies)
        return Response(login.session_view(issued.session), cookies=cookies)

    @post("/logout", status_code=200)
    async def sign_out(self, request: Request) -> Response:
        require_same_origin(request)
        await login.sign_out(request.headers)
        return Response({"status": "signed_out"}, cookies=cleared_cookies())

    @get("/session")
    async def who_am_i(self, request: Request) -> SessionView:
        return await login.who_am_i(request.headers, request.method)
