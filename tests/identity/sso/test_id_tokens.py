"""The ID token check against hand-made tokens and keys made here: every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from app.identity.sso.discovery import key_for
from app.identity.sso.id_tokens import IdTokenRules, InvalidIdToken, validate_id_token

ISSUER = "https://idp.example.com"
CLIENT = "console"
NONCE = "nonce-123"
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
ROTATED = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
RULES = IdTokenRules(issuer=ISSUER, client_id=CLIENT, nonce=NONCE)


class Keys:
    """The issuer's published key set; `refreshed` is what a refetch would bring."""

    def __init__(self, *keys, refreshed=None) -> None:
        self.published = KeySet([*keys])
        self.refreshed = refreshed
        self.refreshes = 0

    async def find(self, kid, alg, *, refresh=False):
        if refresh:
            self.refreshes += 1
            if self.refreshed is not None:
                self.published = self.refreshed
        return key_for(self.published, kid, alg)


def public(key):
    return type(key).import_key(key.as_dict(private=False))


def claims(**changes):
    now = int(time.time())
    values = {"iss": ISSUER, "sub": "user-1", "aud": CLIENT, "exp": now + 300, "iat": now, "nonce": NONCE,
              "email": "alice@example.com"}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def sign(payload, key=RSA, alg="RS256", **header):
    return jwt.encode({"alg": alg, "kid": key.kid, **header}, payload, key, algorithms=[alg])


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def refused(token, keys=None, rules=RULES) -> str:
    with pytest.raises(InvalidIdToken) as caught:
        await validate_id_token(token, rules, keys or Keys(public(RSA), public(EC)))
    assert caught.value.status == 401
    return caught.value.message


async def test_a_good_token_is_accepted_signed_with_rs256_or_es256():
    keys = Keys(public(RSA), public(EC))
    assert (await validate_id_token(sign(claims()), RULES, keys))["email"] == "alice@example.com"
    assert (await validate_id_token(sign(claims(), EC, "ES256"), RULES, keys))["sub"] == "user-1"
    multi = claims(aud=[CLIENT, "project-id"], azp=CLIENT)  # Zitadel: project and apps in aud, azp names us
    assert (await validate_id_token(sign(multi), RULES, keys))["azp"] == CLIENT
    assert keys.refreshes == 0


async def test_a_token_for_a_sibling_client_is_refused():
    assert "another client" in await refused(sign(claims(aud=[CLIENT, "sibling"], azp="sibling")))
    assert "authorized party" in await refused(sign(claims(aud=[CLIENT, "sibling"])))
    assert "another client" in await refused(sign(claims(aud="sibling")))


async def test_a_token_from_another_issuer_is_refused():
    assert "another issuer" in await refused(sign(claims(iss="https://evil.example.com")))
    assert "another issuer" in await refused(sign(claims(iss=ISSUER + "/")))


async def test_expired_tokens_are_refused_beyond_sixty_seconds_of_skew():
    now = int(time.time())
    assert "expired" in await refused(sign(claims(exp=now - 61, iat=now - 400)))
    assert await validate_id_token(sign(claims(exp=now - 30, iat=now - 400)), RULES, Keys(public(RSA)))
    assert "expired" in await refused(sign(claims(exp=None)))
    assert "future" in await refused(sign(claims(iat=now + 120)))
    assert "not valid yet" in await refused(sign(claims(nbf=now + 120)))


async def test_a_token_of_another_sign_in_is_refused():
    assert "nonce" in await refused(sign(claims(nonce="someone-elses")))
    assert "nonce" in await refused(sign(claims(nonce=None)))


async def test_unsigned_tokens_are_refused():
    unsigned = f"{_b64({'alg': 'none', 'kid': 'rsa-1'})}.{_b64(claims())}."
    assert "'none'" in await refused(unsigned)


async def test_hmac_with_the_public_key_as_secret_is_refused():
    # The classic confusion: HS256 "signed" with the issuer's public key bytes.
    secret = OctKey.import_key(json.dumps(RSA.as_dict(private=False)).encode())
    forged = jwt.encode({"alg": "HS256", "kid": "rsa-1"}, claims(), secret, algorithms=["HS256"])
    assert "'HS256'" in await refused(forged)


async def test_a_key_the_issuer_does_not_publish_is_refused_after_one_refresh():
    stranger = RSAKey.generate_key(2048, parameters={"kid": "unknown"})
    keys = Keys(public(RSA))
    assert "does not publish" in await refused(sign(claims(), stranger), keys)
    assert keys.refreshes == 1
    # Same kid as a published key, other key material: the signature fails.
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    assert "signature" in await refused(sign(claims(), impostor), Keys(public(RSA)))
    # An RS256 header over the EC key's kid: the key type does not fit the algorithm.
    assert "does not publish" in await refused(sign(claims(), RSA, kid="ec-1"), Keys(public(EC)))


async def test_rotated_keys_are_found_by_refreshing_once():
    keys = Keys(public(RSA), refreshed=KeySet([public(RSA), public(ROTATED)]))
    assert await validate_id_token(sign(claims(), ROTATED), RULES, keys)
    assert keys.refreshes == 1


async def test_headers_that_bring_their_own_key_are_refused():
    assert "own key" in await refused(sign(claims(), jku="https://evil.example.com/jwks"))


async def test_garbage_is_refused():
    for token in ("", "not-a-jwt", "a.b.c", f"{_b64({'alg': 'RS256'})}.{_b64(claims())}.c2ln"):
        await refused(token)
