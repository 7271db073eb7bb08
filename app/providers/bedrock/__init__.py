"""Amazon Bedrock (Converse / ConverseStream, SigV4-signed): `bedrock/<model id>`."""

from app.providers.base import Provider
from app.providers.bedrock.adapter import Bedrock

PROVIDERS: dict[str, Provider] = {"bedrock": Bedrock()}
