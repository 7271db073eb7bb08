"""Exactly N chat requests over C concurrent connections, each answer checked, and a watcher that
reads the gateway's cooldown counter off /metrics while they run.

httpx on asyncio rather than wrk: each answer's status and body are checked (a retried request must
still come back with the healthy fake's completion) and every request is sent exactly once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from bench.overhead.workload import BadAnswer, Mode, check_answer

COOLDOWN_METRIC = "alchemi_deployment_cooldowns_total"
FAILURE_METRIC = "alchemi_upstream_failures_total"
_TIMEOUT = httpx.Timeout(30.0)


@dataclass
class Answer:
    index: int
    started: float  # time.monotonic()
    ended: float
    status: int  # 0 when the request failed in transport
    problem: str | None  # None for the fake's full completion with usage

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class MetricReading:
    sent: float  # time.monotonic() when the scrape was sent
    received: float
    cooldowns: float  # alchemi_deployment_cooldowns_total, summed over its labels
    upstream_failures: float  # alchemi_upstream_failures_total, summed over its labels


async def send_requests(base_url: str, token: str, body: bytes, *, count: int, concurrency: int) -> list[Answer]:
    """`count` non-streamed chat requests, `concurrency` in flight at a time; one Answer each, by index."""
    answers: list[Answer] = []
    next_index = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < count:
            index, next_index = next_index, next_index + 1
            started = time.monotonic()
            try:
                response = await client.post("/v1/chat/completions", content=body, headers=headers)
            except httpx.HTTPError as exc:
                answers.append(Answer(index, started, time.monotonic(), 0, f"transport: {exc!r}"))
                continue
            ended = time.monotonic()
            try:
                check_answer(Mode.NON_STREAMING, response.status_code, response.content)
                problem = None
            except BadAnswer as exc:
                problem = str(exc)[:300]
            answers.append(Answer(index, started, ended, response.status_code, problem))

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=_TIMEOUT, trust_env=False) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return sorted(answers, key=lambda a: a.index)


async def read_metrics(client: httpx.AsyncClient) -> MetricReading:
    sent = time.monotonic()
    response = await client.get("/metrics")
    received = time.monotonic()
    response.raise_for_status()
    totals = {COOLDOWN_METRIC: 0.0, FAILURE_METRIC: 0.0}
    for line in response.text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return MetricReading(sent, received, totals[COOLDOWN_METRIC], totals[FAILURE_METRIC])


async def watch_metrics(base_url: str, stop: asyncio.Event, *, interval_s: float) -> list[MetricReading]:
    """Scrape /metrics every interval_s until stop is set, and once more after."""
    readings = []
    async with httpx.AsyncClient(base_url=base_url, timeout=_TIMEOUT, trust_env=False) as client:
        while not stop.is_set():
            readings.append(await read_metrics(client))
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except asyncio.TimeoutError:
                pass
        readings.append(await read_metrics(client))
    return readings


async def load_while_watching(base_url: str, token: str, body: bytes, *, count: int, concurrency: int,
                              interval_s: float) -> tuple[list[Answer], list[MetricReading]]:
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_metrics(base_url, stop, interval_s=interval_s))
    try:
        answers = await send_requests(base_url, token, body, count=count, concurrency=concurrency)
    finally:
        stop.set()
    return answers, await watcher
