"""The ID token check (OpenID Connect Core 1.0 §3.1.3.7), the one gate between an issuer's word and a session.

Algorithms are pinned to RS256 and ES256 and checked before any key is looked at: `none` and the HS*
family (which would verify with the issuer's *public* key as an HMAC secret) never get that far.
The key comes from the issuer's key set by `kid` and by type; an unknown kid refreshes the set once.
Then: `iss` exactly, `aud` contains our client id, `azp` is our client id when present and is required
when `aud` names several parties (Zitadel lists the project and all its apps), `exp`/`iat`/`nbf`
with at most 60 s of clock skew, and the `nonce` of this sign-in.
"""

from __future__ import annotations

import hmac
import time
from typing import Any, Protocol

import msgspec
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from app.lib.errors import AuthenticationFailed

ALGORITHMS = ("RS256", "ES256")
LEEWAY = 60


class InvalidIdToken(AuthenticationFailed):
    code = "invalid_id_token"


class IdTokenRules(msgspec.Struct, frozen=True):
    issuer: str
    client_id: str
    nonce: str
    leeway: int = LEEWAY


class SigningKeys(Protocol):
    async def find(self, kid: str | None, alg: str, *, refresh: bool = False) -> RSAKey | ECKey | None: ...


def _refuse(reason: str) -> InvalidIdToken:
    return InvalidIdToken(f"The identity provider's ID token was refused: {reason}")


async def validate_id_token(raw: str, rules: IdTokenRules, keys: SigningKeys,
                            now: float | None = None) -> dict[str, Any]:
    """The token's claims once every check passed; InvalidIdToken (401) otherwise."""
    try:
        header = jws.extract_compact(raw.encode()).headers()
    except (JoseError, ValueError, TypeError):
        raise _refuse("it is not a signed JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _refuse(f"algorithm {alg!r} is not accepted (only {', '.join(ALGORITHMS)})")
    if "crit" in header or "jku" in header or "jwk" in header or "x5u" in header:
        raise _refuse("it carries header parameters that pick their own key")
    kid = header.get("kid")
    key = await keys.find(kid, alg) or await keys.find(kid, alg, refresh=True)
    if key is None:
        raise _refuse("it is signed with a key the issuer does not publish")
    try:
        claims = jwt.decode(raw, key, algorithms=[alg]).claims
    except (JoseError, ValueError, TypeError):
        raise _refuse("its signature does not verify") from None
    _check_claims(claims, rules, time.time() if now is None else now)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _refuse(f"'{name}' is not a time")
    return float(value)


def _check_claims(claims: dict[str, Any], rules: IdTokenRules, now: float) -> None:
    if claims.get("iss") != rules.issuer:
        raise _refuse("it was issued by another issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or rules.client_id not in audiences:
        raise _refuse("it was issued for another client")
    azp = claims.get("azp")
    if azp is not None and azp != rules.client_id:
        raise _refuse("it was issued to another client (azp)")
    if len(audiences) > 1 and azp is None:
        raise _refuse("it names several audiences but no authorized party (azp)")
    expires = _number(claims, "exp")
    if expires is None or now > expires + rules.leeway:
        raise _refuse("it has expired")
    issued = _number(claims, "iat")
    if issued is None or issued > now + rules.leeway:
        raise _refuse("it was issued in the future")
    not_before = _number(claims, "nbf")
    if not_before is not None and not_before > now + rules.leeway:
        raise _refuse("it is not valid yet")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), rules.nonce.encode()):
        raise _refuse("it does not belong to this sign-in (nonce)")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _refuse("it names no subject")
