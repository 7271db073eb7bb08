"""Azure OpenAI: `azure/<deployment name>` with `api_base`, `api_version` and `api_key`."""

from app.providers.azure.adapter import AzureOpenAI
from app.providers.base import Provider

PROVIDERS: dict[str, Provider] = {"azure": AzureOpenAI()}
