"""create_app(): the one place that wires routes, error handling and the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig

from app.admin.accounts.controller import AccountController
from app.admin.email.controller import EmailSettingsController
from app.admin.invitations.controller import InvitationController, InvitationLinkController
from app.admin.keys.controller import KeyController
from app.admin.models.controller import ModelController
from app.admin.router.controller import RouterSettingsController
from app.admin.organizations.controller import OrganizationController
from app.admin.spend.controller import SpendController
from app.admin.teams.controller import TeamController
from app.admin.users.controller import UserController
from app.audit.controller import AuditLogController
from app.gateway.controllers import ChatController, DialectController, ForwardedController
from app.guardrails.controller import GuardrailsController
from app.health import HealthController, metrics
from app.identity.controller import LoginController
from app.identity.sso.controller import SsoConfigController, SsoController
from app.lib.errors import EXCEPTION_HANDLERS
from app.lib.logs import configure_logging, log_access
from app.lib.request_context import RequestContextMiddleware
from app.lib.observability import init_sentry
from app.provisioning.controller import ZitadelWebhookController
from app.runtime import start_runtime, stop_runtime
from app.settings import get_settings

ROUTES = [
    HealthController, metrics, ChatController, ForwardedController, DialectController, AccountController, ModelController, KeyController, UserController,
    TeamController, OrganizationController, SpendController, RouterSettingsController,
    InvitationController, InvitationLinkController, EmailSettingsController, ZitadelWebhookController,
    LoginController, SsoController, SsoConfigController, AuditLogController, GuardrailsController,
]


def create_app() -> Litestar:
    settings = get_settings()
    configure_logging(settings.log_level)
    init_sentry(settings.sentry_dsn, component="api")

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await start_runtime(settings)
        try:
            yield
        finally:
            await stop_runtime()

    return Litestar(
        route_handlers=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[DefineMiddleware(RequestContextMiddleware, on_end=log_access)],
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(title="Alchemi Studio Console", version="0.1.0", path="/docs"),
        logging_config=None,  # configure_logging() owns the log format
        debug=False,
    )
