"""Where a Vertex AI deployment's calls go: project, location, host and the publisher model path."""

from __future__ import annotations

from functools import lru_cache

import httpx
import msgspec

from app.lib.errors import UpstreamFailed
from app.providers.base import Deployment
from app.providers.gemini.calls import versioned_base
from app.providers.vertex_ai.credentials import CredentialsInvalid, ServiceAccountAuth, auth_for

DEFAULT_LOCATION = "us-central1"
DEFAULT_API_VERSION = "v1"


class Target(msgspec.Struct, frozen=True):
    base: str
    version: str
    project: str
    location: str
    auth: ServiceAccountAuth

    def url(self, publisher: str, model: str, method: str) -> httpx.URL:
        return publisher_url(self.base, self.version, self.project, self.location, publisher, model, method)


@lru_cache(maxsize=4096)
def publisher_url(base: str, version: str, project: str, location: str, publisher: str, model: str,
                  method: str) -> httpx.URL:
    return httpx.URL(f"{versioned_base(base, version)}/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}")


def _misconfigured(deployment: Deployment, what: str) -> UpstreamFailed:
    return UpstreamFailed(f"vertex_ai deployment for '{deployment.model_name}' {what}", code="upstream_misconfigured")


def target_of(deployment: Deployment) -> Target:
    credentials = deployment.secrets.get("vertex_credentials")
    if not credentials:
        raise _misconfigured(deployment, "has no vertex_credentials")
    try:
        auth = auth_for(credentials)
    except CredentialsInvalid as exc:
        raise _misconfigured(deployment, f"has unusable vertex_credentials: {exc}") from None
    project = deployment.params.get("vertex_project") or auth.account.project_id
    if not project:
        raise _misconfigured(deployment, "has no vertex_project")
    location = deployment.params.get("vertex_location") or DEFAULT_LOCATION
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return Target(base=deployment.api_base or f"https://{host}", version=deployment.api_version or DEFAULT_API_VERSION,
                  project=project, location=location, auth=auth)
