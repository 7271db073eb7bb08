"""Running a fake vendor (a bare ASGI app) on 127.0.0.1 with uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Self


class ThreadedServer:
    """`with ThreadedServer(app, "name") as server: server.url` — a real HTTP server for the duration.

    Each fake subclasses it, adding its `state` and the `requests` it recorded.
    """

    def __init__(self, app, name: str, *, port: int = 0) -> None:
        self.app = app
        self.name = name
        self.port = port  # known once started
        self._bind_port = port  # 0: any free port
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The api_base a client of the vendor is configured with."""
        return self.url

    def start(self) -> Self:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._bind_port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False))
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
                while not self._server.started:
                    await asyncio.sleep(0.01)
                ready.set()
                await task

            loop.run_until_complete(serve())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.name} did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
