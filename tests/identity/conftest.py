"""A real OpenID Connect provider (npm oidc-provider, tests/oidc/server.mjs) on 127.0.0.1, and an API process
configured for console login: UI_USERNAME/UI_PASSWORD, SUPER_ADMIN_EMAILS and the global Zitadel pointing
at that provider. The provider's people have Zitadel-shaped claims in this run's own email domains."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXTRA_CANARIES
from tests.support.processes import ROOT, free_port

OIDC_DIR = ROOT / "tests" / "oidc"
ZITADEL_ROLES = "urn:zitadel:iam:org:project:roles"
ZITADEL_ORG = "urn:zitadel:iam:org:id"


@dataclass
class Idp:
    """What the provider knows: its clients and the people who can sign in there (login name → claims)."""

    issuer: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    console_client: str = "alchemi-console"
    console_secret: str = field(default_factory=lambda: "client-secret-" + uuid.uuid4().hex)
    account_client: str = "tenant-app"
    account_secret: str = field(default_factory=lambda: "tenant-secret-" + uuid.uuid4().hex)
    org: str = field(default_factory=lambda: "org" + uuid.uuid4().hex[:10])
    other_org: str = field(default_factory=lambda: "org" + uuid.uuid4().hex[:10])

    @property
    def zitadel_domain(self) -> str:  # an account signing in through the global Zitadel
        return f"z{self.run}.example.com"

    @property
    def oidc_domain(self) -> str:  # an account with an OIDC provider of its own
        return f"o{self.run}.example.com"

    @property
    def ops_domain(self) -> str:  # the operator's people (SUPER_ADMIN_EMAILS), no account
        return f"ops{self.run}.example.com"

    def email(self, login: str) -> str:
        return self.accounts()[login]["email"]

    def accounts(self) -> dict[str, dict]:
        z, o = self.zitadel_domain, self.oidc_domain

        def zitadel(email: str, org: str, roles: dict[str, dict[str, str]] | None = None, **extra) -> dict:
            return {"email": email, "email_verified": True, ZITADEL_ORG: org,
                    "urn:zitadel:iam:user:resourceowner:id": org, ZITADEL_ROLES: roles or {}, **extra}

        return {
            "alice": zitadel(f"alice@{z}", self.org, {"admin": {self.org: z}}),
            "bob": zitadel(f"bob@{z}", self.org),
            "carol": zitadel(f"carol@{z}", self.org, {"admin": {self.other_org: "elsewhere.example.com"}}),
            "eve": zitadel(f"eve@{z}", self.other_org, {"admin": {self.other_org: z}}),
            "unverified": zitadel(f"unverified@{z}", self.org, email_verified=False),
            "mallory": zitadel(f"mallory@{z}\r\nBcc: victim@{z}", self.org),
            "stranger": zitadel(f"stranger@nobody{self.run}.example.com", self.org),
            "root": zitadel(f"root@{self.ops_domain}", "operator-org"),
            "olga": {"email": f"olga@{o}", "email_verified": True, "roles": ["viewer"]},
            "oscar": {"email": f"oscar@{o}", "email_verified": True, "roles": ["owner", "viewer"]},
            "dave": {"email": f"dave@{o}", "email_verified": True},
            "gina": {"email": f"gina@{o}", "email_verified": True},
            "intruder": {"email": f"intruder@{z}", "email_verified": True},
        }

    def config(self, redirect_uris: list[str]) -> dict:
        return {
            "clients": [
                {"client_id": self.console_client, "client_secret": self.console_secret,
                 "redirect_uris": redirect_uris},
                {"client_id": self.account_client, "client_secret": self.account_secret,
                 "redirect_uris": redirect_uris, "id_token_signed_response_alg": "ES256"},
            ],
            "accounts": self.accounts(),
        }


@pytest.fixture(scope="session")
def oidc_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def idp(oidc_port) -> Idp:
    idp = Idp(issuer=f"http://127.0.0.1:{oidc_port}")
    EXTRA_CANARIES.extend([("OIDC client secret", idp.console_secret), ("OIDC client secret", idp.account_secret)])
    return idp


UI_USERNAME = "console-admin"
UI_PASSWORD = "ui-password-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def console_api(cluster, idp):
    """An API process with console login configured (the suite's shared `api` has none of it)."""
    EXTRA_CANARIES.append(("UI_PASSWORD", UI_PASSWORD))
    process = cluster.start_api(extra_env={
        "UI_USERNAME": UI_USERNAME, "UI_PASSWORD": UI_PASSWORD,
        "SUPER_ADMIN_EMAILS": f"root@{idp.ops_domain}, someone-else@{idp.ops_domain}",
        "ZITADEL_ISSUER_URL": idp.issuer, "ZITADEL_CLIENT_ID": idp.console_client,
        "ZITADEL_CLIENT_SECRET": idp.console_secret,
    })
    yield process
    process.stop()


@pytest.fixture(scope="session")
def oidc_provider(console_api, idp, oidc_port, tmp_path_factory):
    """The provider, registered with the console API's two callbacks."""
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(OIDC_DIR)], check=True,
                       capture_output=True, timeout=300)
    folder = tmp_path_factory.mktemp("oidc")
    config = folder / "config.json"
    config.write_text(json.dumps(idp.config([f"{console_api.url}/sso/callback",
                                             f"{console_api.url}/zitadel/callback"])))
    log = open(folder / "provider.log", "ab")
    process = subprocess.Popen(["node", str(OIDC_DIR / "server.mjs"), "--port", str(oidc_port), "--config",
                                str(config)], cwd=OIDC_DIR, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"oidc-provider exited: {Path(folder / 'provider.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("oidc-provider did not start in 30 s")
        time.sleep(0.1)
    yield idp
    process.terminate()
    process.wait(10)
    log.close()
