"""The Bokeh server behind ``evo serve``: one application at ``/``, its JavaScript served from
the installed bokeh package (nothing is fetched from the internet), stopped by Ctrl-C."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from pathlib import Path

from bokeh.application import Application
from bokeh.application.handlers import FunctionHandler
from bokeh.server.server import BaseServer
from bokeh.server.tornado import BokehTornado
from bokeh.server.util import bind_sockets
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from evo.errors import ConfigError
from evo.serve.page import make_document
from evo.serve.runs import RecordCache

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LiveServer:
    """A started server: its URL, and :meth:`run` to serve until Ctrl-C (or SIGTERM)."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, interval_s: float = 1.0):
        application = Application(
            FunctionHandler(make_document(root, RecordCache(), int(interval_s * 1000)))
        )
        try:
            sockets, bound = bind_sockets(host, port)
        except OSError as exc:
            raise ConfigError(f"--host {host} --port {port}: cannot listen there: {exc}") from None
        self.host, self.port = host, bound
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/"
        tornado_app = BokehTornado(
            {"/": application},
            extra_websocket_origins=_origins(host, bound),
            absolute_url=self.url,
        )
        self._http = HTTPServer(tornado_app)
        self._http.start(1)
        self._http.add_sockets(sockets)
        self._loop = IOLoop.current()
        self._server = BaseServer(self._loop, tornado_app, self._http)

    def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until Ctrl-C or SIGTERM; then close every socket and session and return."""
        # The signals stop the loop between two callbacks, never inside one (and also when
        # the process was started with SIGINT ignored, as a shell's background job is).
        events = self._loop.asyncio_loop
        for number in _SIGNALS:
            events.add_signal_handler(number, self._loop.stop)
        self._server.start()
        if on_ready is not None:
            on_ready(self.url)
        try:
            self._loop.start()
        finally:
            for number in _SIGNALS:
                events.remove_signal_handler(number)
            self.close()

    def close(self) -> None:
        """Stop listening and close the browser sessions."""
        self._server.stop(wait=False)
        self._server.unlisten()


def _origins(host: str, port: int) -> list[str]:
    """The host names a browser may open the page by (Bokeh checks the websocket's Origin)."""
    names = {host, *LOOPBACK[:2]}
    if host not in LOOPBACK:
        names |= {socket.gethostname(), socket.getfqdn()}
    if host in ("0.0.0.0", "::"):
        names.add("*")  # every interface: any name this host answers to
    return sorted(f"{name}:{port}" if name != "*" else "*" for name in names)
