"""A thin admin client for tests: the management API over real HTTP, as a script would use it."""

from __future__ import annotations

from typing import Any

import httpx


class AdminClient:
    def __init__(self, base_url: str, master_key: str) -> None:
        self.base_url = base_url
        self.master_key = master_key
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def headers(self, account_id: str | None = None, key: str | None = None) -> dict[str, str]:
        headers = {"authorization": f"Bearer {key or self.master_key}"}
        if account_id:
            headers["x-alchemi-account-id"] = account_id
        return headers

    def call(self, method: str, path: str, account_id: str | None = None, key: str | None = None,
             **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=self.headers(account_id, key), **kwargs)

    def ok(self, method: str, path: str, account_id: str | None = None, **kwargs: Any) -> Any:
        response = self.call(method, path, account_id, **kwargs)
        assert response.status_code in (200, 201), f"{method} {path} → {response.status_code} {response.text}"
        return response.json()

    def create_account(self, name: str, **fields: Any) -> str:
        return self.ok("POST", "/accounts", json={"name": name, **fields})["account_id"]

    def add_model(self, account_id: str, model_name: str, api_base: str, *, upstream: str = "openai/fake-model",
                  api_key: str | None = "sk-fake-provider", **info: Any) -> dict:
        params = {"model": upstream, "api_base": api_base}
        if api_key:
            params["api_key"] = api_key
        body = {"model_name": model_name, "litellm_params": params, "model_info": info or None}
        return self.ok("POST", "/model/new", account_id, json=body)

    def generate_key(self, account_id: str, **fields: Any) -> dict:
        return self.ok("POST", "/key/generate", account_id, json=fields)
