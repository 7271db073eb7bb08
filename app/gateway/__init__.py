"""The data plane: /v1/* controllers, model resolution, streaming relay."""
