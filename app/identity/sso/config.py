"""An account's identity provider, as stored in `accounts.sso_config` (client secret sealed) and
`accounts.zitadel_org_id`, and the global Zitadel from the environment.

    provider "oidc"     any OpenID Connect issuer; roles from the claim `roles_claim` (default "roles")
    provider "zitadel"  Zitadel: roles from `urn:zitadel:iam:org:project:roles`, the org claim must be the
                        account's `zitadel_org_id`; without an issuer of its own, the global
                        ZITADEL_ISSUER_URL / _CLIENT_ID / _CLIENT_SECRET / _CALLBACK_URL are used
An account linked to a Zitadel organization (`zitadel_org_id`, set by the super admin only) signs in
through the global Zitadel unless a provider of its own is enabled; `role_mapping` applies to both.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from app.auth.principal import INTERNAL_USER, ROLES, SUPER_ADMIN
from app.lib.errors import InvalidRequest
from app.lib.logs import register_secret
from app.settings import Settings

OIDC = "oidc"
ZITADEL = "zitadel"
FLAVOURS = (OIDC, ZITADEL)
MAPPABLE_ROLES = tuple(role for role in ROLES if role != SUPER_ADMIN)
DEFAULT_SCOPES = ("openid", "email", "profile")
# Zitadel asserts project roles and the user's organization only when asked for them.
ZITADEL_SCOPES = ("urn:zitadel:iam:org:projects:roles", "urn:zitadel:iam:user:resourceowner")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,200}$")  # RFC 6749 scope-token
_LOOPBACK_NAMES = {"localhost"}


class IdentityProvider(msgspec.Struct, frozen=True):
    """What one sign-in flow talks to: resolved from an account's settings or from the environment."""

    flavour: str
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    roles_claim: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"


class StoredSso(msgspec.Struct, omit_defaults=True):
    """The JSON in accounts.sso_config."""

    enabled: bool = False
    provider: str = OIDC
    issuer: str | None = None
    client_id: str | None = None
    client_secret_sealed: str | None = None
    scopes: list[str] = []
    role_mapping: dict[str, str] = {}
    roles_claim: str | None = None
    default_role: str = INTERNAL_USER


class SsoSettingsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """PUT /sso/config: the whole configuration. `client_secret` is write-only; left out, the stored
    one is kept as long as the issuer and client id stay the same."""

    provider: str = OIDC
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] = []
    role_mapping: dict[str, str] = {}
    roles_claim: str | None = None
    default_role: str = INTERNAL_USER
    enabled: bool = True
    zitadel_org_id: str | None | msgspec.UnsetType = msgspec.UNSET


class SsoSettings(msgspec.Struct):
    """The answer of /sso/config: never the secret, only whether one is stored."""

    account_id: UUID
    enabled: bool
    provider: str
    issuer: str | None
    client_id: str | None
    client_secret_set: bool
    scopes: list[str]
    role_mapping: dict[str, str]
    roles_claim: str | None
    default_role: str
    zitadel_org_id: str | None
    redirect_uri: str


class AccountSso(msgspec.Struct, frozen=True):
    """An account as sign-in sees it."""

    account_id: UUID
    domain: str | None
    zitadel_org_id: str | None
    stored: StoredSso

    @property
    def uses_own_provider(self) -> bool:
        return self.stored.enabled and bool(self.stored.issuer)

    @property
    def uses_global_zitadel(self) -> bool:
        """Linked to a Zitadel organization (the super admin's doing), or set to Zitadel without an issuer
        of its own; an enabled provider of its own comes first."""
        if self.uses_own_provider:
            return False
        return bool(self.zitadel_org_id) or (self.stored.enabled and self.stored.provider == ZITADEL)


def stored_sso(raw: object) -> StoredSso:
    try:
        return msgspec.convert(raw or {}, StoredSso)
    except msgspec.ValidationError:
        return StoredSso()  # unreadable settings: sign-on stays off rather than half-configured


def _plain(value: str | None, param: str, limit: int = 500) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > limit or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidRequest(f"'{param}' must be printable text of at most {limit} characters", param=param)
    return text


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def issuer_url(value: str | None, param: str = "issuer") -> str | None:
    """An issuer is an https URL without query or fragment (plain http only on a loopback address, for development)."""
    text = _plain(value, param)
    if text is None:
        return None
    parts = urlsplit(text)
    if (parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment
            or parts.username or parts.password or (parts.scheme == "http" and not _is_loopback(parts.hostname))):
        raise InvalidRequest(f"'{param}' must be an https URL without query or fragment", param=param)
    return text.rstrip("/")


def _role(value: str, param: str) -> str:
    if value not in MAPPABLE_ROLES:
        raise InvalidRequest(f"'{param}' must be one of: {', '.join(MAPPABLE_ROLES)}", param=param)
    return value


def validated(update: SsoSettingsUpdate, current: StoredSso, seal) -> StoredSso:
    """The configuration to store; `seal` encrypts the client secret."""
    if update.provider not in FLAVOURS:
        raise InvalidRequest(f"'provider' must be one of: {', '.join(FLAVOURS)}", param="provider")
    issuer = issuer_url(update.issuer)
    client_id = _plain(update.client_id, "client_id", 255)
    if (update.provider == OIDC or issuer) and not (issuer and client_id):
        raise InvalidRequest("'issuer' and 'client_id' are required (a Zitadel account without them uses the "
                             "global ZITADEL_ISSUER_URL)", param="issuer" if not issuer else "client_id")
    secret = _plain(update.client_secret, "client_secret", 1000)
    if secret is not None:
        sealed = seal(secret)
    elif issuer == current.issuer and client_id == current.client_id:
        sealed = current.client_secret_sealed
    else:
        sealed = None  # the stored secret belonged to another client
    scopes = [_plain(scope, "scopes", 200) or "" for scope in update.scopes]
    if any(not _SCOPE.match(scope) for scope in scopes):
        raise InvalidRequest("'scopes' must be OAuth scope tokens (no spaces or quotes)", param="scopes")
    mapping = {}
    for name, role in update.role_mapping.items():
        name = _plain(name, "role_mapping", 200)
        if name is None:
            raise InvalidRequest("'role_mapping' keys must be the identity provider's role names", param="role_mapping")
        mapping[name] = _role(role, "role_mapping")
    return StoredSso(
        enabled=update.enabled, provider=update.provider, issuer=issuer, client_id=client_id,
        client_secret_sealed=sealed if issuer else None, scopes=scopes, role_mapping=mapping,
        roles_claim=_plain(update.roles_claim, "roles_claim", 200),
        default_role=_role(update.default_role, "default_role"),
    )


def zitadel_org(value: str | None) -> str | None:
    text = _plain(value, "zitadel_org_id", 64)
    if text is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise InvalidRequest("'zitadel_org_id' must be a Zitadel organization id", param="zitadel_org_id")
    return text


def account_provider(account: AccountSso, open_secret) -> IdentityProvider:
    """The account's own issuer (`open_secret` decrypts the sealed client secret)."""
    stored = account.stored
    assert stored.issuer and stored.client_id
    secret = open_secret(stored.client_secret_sealed) if stored.client_secret_sealed else None
    register_secret(secret)
    scopes = tuple(dict.fromkeys((*DEFAULT_SCOPES, *(ZITADEL_SCOPES if stored.provider == ZITADEL else ()),
                                  *stored.scopes)))
    if stored.provider == ZITADEL and account.zitadel_org_id:
        scopes += (f"urn:zitadel:iam:org:id:{account.zitadel_org_id}",)  # Zitadel then signs in that org only
    return IdentityProvider(flavour=stored.provider, issuer=stored.issuer, client_id=stored.client_id,
                            client_secret=secret, scopes=scopes, roles_claim=stored.roles_claim,
                            token_endpoint_auth_method="client_secret_basic" if secret else "none")


def global_zitadel(settings: Settings) -> IdentityProvider | None:
    """The operator's Zitadel from ZITADEL_ISSUER_URL / _CLIENT_ID / _CLIENT_SECRET (None when not set)."""
    if not (settings.zitadel_issuer_url and settings.zitadel_client_id):
        return None
    secret = settings.zitadel_client_secret
    return IdentityProvider(flavour=ZITADEL, issuer=settings.zitadel_issuer_url.rstrip("/"),
                            client_id=settings.zitadel_client_id, client_secret=secret,
                            scopes=(*DEFAULT_SCOPES, *ZITADEL_SCOPES),
                            token_endpoint_auth_method="client_secret_basic" if secret else "none")
