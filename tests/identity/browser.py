"""A browser, as far as signing in needs one: cookies kept per site, redirects followed by hand.

The console's cookies are `Secure`, which httpx's cookie jar will not send over plain http, so they
are carried here by hand (as a browser does for 127.0.0.1); the provider's own cookies stay in its client.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """name → {value, and each attribute in lower case} of every Set-Cookie of the response."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        cookie = {"value": value.strip('"')}
        for attribute in attributes:
            key, _, setting = attribute.partition("=")
            cookie[key.lower()] = setting
        cookies[name] = cookie
    return cookies


class Browser:
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.cookies: dict[str, str] = {}
        self.http = httpx.Client(timeout=15)  # for the console API: cookies by hand
        self.provider = httpx.Client(timeout=15)  # for the identity provider: its cookies in its jar

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for name, cookie in set_cookies(response).items():
            if cookie.get("max-age") == "0" or not cookie["value"]:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie["value"]
        return response

    def _cookie_header(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def request(self, method: str, path: str, *, csrf: bool = False, **kwargs) -> httpx.Response:
        url = path if path.startswith("http") else self.api_url + path
        headers = {**self._cookie_header(), **kwargs.pop("headers", {})}
        if csrf and "alchemi_csrf" in self.cookies:
            headers["x-csrf-token"] = self.cookies["alchemi_csrf"]
        return self._keep(self.http.request(method, url, headers=headers, **kwargs))

    def start(self, path: str) -> str:
        """GET an authorize route of the console: the provider URL it sends the browser to."""
        response = self.request("GET", path)
        assert response.status_code == 302, response.text
        return response.headers["location"]

    def sign_in_at_provider(self, url: str, login: str) -> str:
        """Through the provider's login and consent pages (devInteractions): the callback URL it ends at."""
        location = url
        for _ in range(10):
            if location.startswith(self.api_url):
                return location
            target = httpx.URL(url).join(location)
            response = self.provider.get(target)
            if response.status_code == 200 and "/interaction/" in target.path:
                uid = target.path.rstrip("/").rsplit("/", 1)[-1]
                form = {"prompt": "login", "login": login} if 'name="login"' in response.text else {"prompt": "consent"}
                response = self.provider.post(httpx.URL(url).join(f"/interaction/{uid}"), data=form)
            assert response.status_code in (302, 303), f"{target} → {response.status_code} {response.text[:300]}"
            location = response.headers["location"]
        raise AssertionError("the provider did not send the browser back")

    def sso(self, start_path: str, login: str) -> httpx.Response:
        """A whole sign-in: the console's authorize route, the provider, the console's callback."""
        callback = self.sign_in_at_provider(self.start(start_path), login)
        return self.request("GET", callback)


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
