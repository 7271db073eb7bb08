"""The deployment that always fails: the OpenAI fake (upstream model `error-500` answers 500) in a
thread of the bench process, noting when each request reached it and when it answered.

A thread rather than a process so that those times are on the bench's own clock, the one the client
and the /metrics watcher use; it runs on the load core with the rest of the bench.
"""

from __future__ import annotations

import time

from tests.fakes.openai_upstream import FakeOpenAIApp, FakeState
from tests.fakes.threaded_server import ThreadedServer

FAILING_MODEL = "error-500"


class Timed:
    """ASGI wrapper: when each HTTP request arrived and when its answer started (time.monotonic())."""

    def __init__(self, app) -> None:
        self.app = app
        self.arrivals: list[float] = []
        self.answers: list[float] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.arrivals.append(time.monotonic())

        async def timed_send(message) -> None:
            if message["type"] == "http.response.start":
                self.answers.append(time.monotonic())
            await send(message)

        await self.app(scope, receive, timed_send)

    def arrivals_between(self, start: float, end: float) -> list[float]:
        return [t for t in self.arrivals if start <= t < end]

    def answers_between(self, start: float, end: float) -> list[float]:
        return [t for t in self.answers if start <= t < end]


def failing_upstream() -> tuple[ThreadedServer, Timed]:
    """The server (not started yet: use it as a context manager; its url + "/v1" is the api_base) and its times."""
    timed = Timed(FakeOpenAIApp(FakeState(name="failing", record=False)))
    return ThreadedServer(timed, "failing-upstream"), timed
