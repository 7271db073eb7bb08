"""The fake Anthropic and Gemini upstreams of tests/fakes/ as standalone processes for the bench.

    python -m bench.translation.fake_vendors anthropic --port 9101 --api-key sk-fake-anthropic
    python -m bench.translation.fake_vendors gemini --port 9102 --api-key fake-gemini-key

The test-suite runs these fakes only as threads; the bench needs them as processes on the load core,
like `tests.fakes.openai_upstream`. Both answer the text the OpenAI fake answers with `--chunks 20`
("Hello w1 ... w19 from fake", one stream delta per word), so that the three upstreams differ only in
their wire format, and they keep no log of requests (the fakes record every request for the tests).
"""

from __future__ import annotations

import argparse

import uvicorn

from bench.overhead.workload import EXPECTED_TEXT, UPSTREAM_CHUNKS
from tests.fakes import anthropic_upstream, gemini_upstream

VENDORS = ("anthropic", "gemini")


class _Unrecorded(list):
    """A request log that keeps nothing: a bench sends each fake hundreds of thousands of requests."""

    def append(self, item) -> None:
        pass


def answer_words() -> list[str]:
    """The OpenAI fake's answer, one word per stream delta."""
    words = ["Hello"] + [f" w{i}" for i in range(1, UPSTREAM_CHUNKS)]
    words[-1] += " from fake"
    assert "".join(words) == EXPECTED_TEXT
    return words


def anthropic_app(api_key: str) -> anthropic_upstream.FakeAnthropicApp:
    # name "fake" and 20 chunks make plan_reply() produce exactly answer_words().
    state = anthropic_upstream.FakeState(api_key=api_key, name="fake", chunks=UPSTREAM_CHUNKS,
                                         requests=_Unrecorded())
    return anthropic_upstream.FakeAnthropicApp(state)


def gemini_app(api_key: str) -> gemini_upstream.FakeGeminiApp:
    # The Gemini fake has no knob for its answer: its module constant is what plan_answer() copies.
    gemini_upstream.ANSWER = answer_words()
    return gemini_upstream.FakeGeminiApp(gemini_upstream.FakeState(api_key=api_key, requests=_Unrecorded()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vendor", choices=VENDORS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    app = anthropic_app(args.api_key) if args.vendor == "anthropic" else gemini_app(args.api_key)
    # The same server settings as tests.fakes.openai_upstream's main(), so no fake is faster by setup.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off",
                loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
