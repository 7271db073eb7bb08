"""Metrics as Prometheus reads them: counters, labelled gauges and histograms in valid text format, and the
numbers only Redis holds (job durations and outcomes, queue depth, worker-published gauges)."""

from __future__ import annotations

import math
import uuid

import pytest
import redis.asyncio as aioredis

from app.lib import worker_metrics
from app.lib.metrics import ERRORS, Counter, Gauge, Histogram, Registry, count_error, render_family
from tests.lib.prometheus_text import FormatError, parse


def _registry(*metrics) -> dict:
    registry = Registry()
    for metric in metrics:
        registry.register(metric)
    return parse(registry.render())


def test_a_histogram_counts_each_observation_into_cumulative_buckets_with_sum_and_count():
    latency = Histogram("t_seconds", "Latency", ("model_group",), buckets=(0.1, 1.0, 10.0))
    for seconds in (0.05, 0.1, 0.7, 3.0, 42.0):
        latency.observe(seconds, "gpt-4o")
    latency.observe(0.2, "claude")

    family = _registry(latency)["t_seconds"]

    assert family.type == "histogram" and family.help == "Latency"
    buckets = {labels["le"]: value for name, labels, value in family.samples
               if name == "t_seconds_bucket" and labels["model_group"] == "gpt-4o"}
    # Upper bounds are inclusive (0.1 lands in le="0.1"), and each bucket holds every smaller one.
    assert buckets == {"0.1": 2, "1.0": 3, "10.0": 4, "+Inf": 5}
    assert family.value("_count", model_group="gpt-4o") == 5
    assert family.value("_sum", model_group="gpt-4o") == pytest.approx(45.85)
    assert family.value("_bucket", model_group="claude", le="1.0") == 1
    assert family.value("_bucket", model_group="claude", le="0.1") == 0


def test_counters_and_gauges_render_labels_escaped_and_values_exact():
    refusals = Counter("t_refusals_total", "Refusals", ("model_group", "code"))
    refusals.inc('we"ird\\group\nname', "rpm")
    refusals.inc('we"ird\\group\nname', "rpm", amount=2)
    depth = Gauge("t_depth", "Depth", labels=("queue",))
    depth.set(7, "alchemi:usage")
    depth.inc("alchemi:audit", amount=3)
    pending = Gauge("t_pending", "Pending", lambda: 12.5)

    families = _registry(refusals, depth, pending)

    assert families["t_refusals_total"].type == "counter"
    assert families["t_refusals_total"].value(model_group='we"ird\\group\nname', code="rpm") == 3
    assert families["t_depth"].type == "gauge"
    assert families["t_depth"].value(queue="alchemi:usage") == 7
    assert families["t_depth"].value(queue="alchemi:audit") == 3
    assert families["t_pending"].value() == 12.5


def test_special_values_and_an_empty_histogram_are_still_valid():
    empty = Histogram("t_empty_seconds", "Nothing observed yet")
    odd = Gauge("t_odd", "Odd values", labels=("kind",))
    odd.set(math.inf, "inf")
    odd.set(math.nan, "nan")

    families = _registry(empty, odd)

    assert families["t_empty_seconds"].samples == []
    assert families["t_odd"].value(kind="inf") == math.inf
    assert math.isnan(families["t_odd"].value(kind="nan"))


def test_the_reader_used_here_refuses_what_prometheus_refuses():
    # So the checks above mean something: broken expositions do not parse.
    with pytest.raises(FormatError):
        parse('# TYPE x counter\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 1\n')  # family split
    with pytest.raises(FormatError):
        parse('# TYPE h histogram\nh_bucket{le="1.0"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n')
    with pytest.raises(FormatError):
        parse('x{a="unterminated} 1\n')
    with pytest.raises(FormatError):
        parse("# TYPE x counter\nx -1\n")


def test_error_codes_from_upstreams_cannot_grow_the_label_set_without_bound():
    group = f"g-{uuid.uuid4().hex[:6]}"
    count_error("chat", group, "invalid_request_error", "Weird Code With Spaces {and} braces")
    count_error("chat", group, "rate_limit_error", "upstream_rate_limited")
    assert ERRORS.values[("chat", group, "invalid_request_error", "other")] == 1
    assert ERRORS.values[("chat", group, "rate_limit_error", "upstream_rate_limited")] == 1

    for i in range(1100):
        count_error("chat", group, "invalid_request_error", f"code_{i}")
    assert len(ERRORS.values) <= 1000 + 1, "past the cap every new code is counted as 'other'"
    assert ERRORS.values[("chat", group, "invalid_request_error", "other")] > 1
    parse("\n".join(ERRORS.render()) + "\n")


def test_worker_published_families_render_valid_text():
    lines = render_family("t_fleet_up", "gauge", "x", (), [((), 1.0)])
    assert parse("\n".join(lines) + "\n")["t_fleet_up"].value() == 1.0


@pytest.fixture
async def redis(services):
    client = aioredis.from_url(services.redis_url)
    yield client
    await client.aclose()


async def test_job_durations_and_outcomes_add_up_across_workers_in_redis(redis):
    queue = f"test:queue:{uuid.uuid4().hex[:6]}"
    # Two "workers" record into the same hash: /metrics on any API process sees both.
    await worker_metrics.record_job(redis, queue, "record_usage", 0.004, "success")
    await worker_metrics.record_job(redis, queue, "record_usage", 0.3, "success")
    await worker_metrics.record_job(redis, queue, "record_usage", 75.0, "failed")
    await worker_metrics.record_job(redis, queue, "send_invitation_email", 0.02, "retried")
    await redis.zadd(queue, {"job-a": 1, "job-b": 2, "job-c": 3})

    families = parse("\n".join(await worker_metrics.fleet_lines(redis, (queue,))) + "\n")

    durations = families["alchemi_job_duration_seconds"]
    assert durations.value("_count", queue=queue, function="record_usage") == 3
    assert durations.value("_sum", queue=queue, function="record_usage") == pytest.approx(75.304)
    assert durations.value("_bucket", queue=queue, function="record_usage", le="0.005") == 1
    assert durations.value("_bucket", queue=queue, function="record_usage", le="0.5") == 2
    assert durations.value("_bucket", queue=queue, function="record_usage", le="60.0") == 2
    assert durations.value("_bucket", queue=queue, function="record_usage", le="+Inf") == 3
    outcomes = families["alchemi_jobs_total"]
    assert outcomes.value(queue=queue, function="record_usage", outcome="success") == 2
    assert outcomes.value(queue=queue, function="record_usage", outcome="failed") == 1
    assert outcomes.value(queue=queue, function="send_invitation_email", outcome="retried") == 1
    assert families["alchemi_queue_depth"].value(queue=queue) == 3


async def test_published_gauge_groups_become_alchemi_group_name_series(redis):
    group = f"t{uuid.uuid4().hex[:6]}"
    await worker_metrics.publish(redis, group, {"backlog_events": 42, "oldest_pending_seconds": 3.5})
    await redis.hincrbyfloat(worker_metrics.PREFIX + group, "shipped_events_total", 10)

    assert (await worker_metrics.read_all(redis))[group]["backlog_events"] == 42
    families = parse("\n".join(await worker_metrics.fleet_lines(redis, ())) + "\n")

    assert families[f"alchemi_{group}_backlog_events"].type == "gauge"
    assert families[f"alchemi_{group}_backlog_events"].value() == 42
    assert families[f"alchemi_{group}_oldest_pending_seconds"].value() == 3.5
    assert families[f"alchemi_{group}_shipped_events_total"].type == "counter"
    assert families[f"alchemi_{group}_shipped_events_total"].value() == 10
