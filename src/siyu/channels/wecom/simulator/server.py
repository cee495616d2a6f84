"""The simulator's HTTP server: a small threaded WSGI app (``wsgiref``), its callback dispatcher and its ticker.

Routes:

* ``/cgi-bin/<api>`` (also ``/<api>``, for an API base without ``cgi-bin/``) → ``dispatch.handle``;
* ``/`` the simulator's page, ``/sim/contact-way/<config_id>`` (``?format=png|svg`` for the QR image),
  ``/sim/oa/qr/<ticket>``, ``/cgi-bin/showqrcode?ticket=``, ``POST /sim/action/<name>`` (page forms),
  ``/sim/status.json``, ``/static/wecom_sim/…``.

``SimServer`` runs everything in one process: ``start()`` for tests (in-process, port 0 = a free one), ``run()``
for ``siyu wecom-sim serve``.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import socketserver
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from siyu.channels.wecom.simulator import pages
from siyu.channels.wecom.simulator.actions import Sim, tick
from siyu.channels.wecom.simulator.api import contacts, groups, messaging, oa, org, tags  # noqa: F401  (registration)
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.delivery import Dispatcher
from siyu.channels.wecom.simulator.dispatch import REGISTRY, Call, Limits, handle
from siyu.channels.wecom.simulator.store import Store

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_BODY = 8 * 1024 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    store: Store | None = None

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if self.store is not None:  # one thread per request: its SQLite connection goes with it
                self.store.release()


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        logger.debug("wecom-sim %s", format % args)


def _respond(start: StartResponse, status: str, body: bytes, content_type: str,
             headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:  # fmt: skip
    start(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
    return [body]


def json_response(start: StartResponse, data: Any, status: str = "200 OK") -> list[bytes]:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return _respond(start, status, body, "application/json; charset=utf-8")


def make_app(sim: Sim, limits: Limits) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    def app(environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        query = {
            k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()
        }
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return _respond(start, "413 Payload Too Large", b"too large", "text/plain")
        raw = environ["wsgi.input"].read(length) if length else b""
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        base_url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
        api = path.removeprefix("/cgi-bin/") if path.startswith("/cgi-bin/") else path.lstrip("/")
        if api in REGISTRY.wecom or api in REGISTRY.oa:
            call = Call(sim=sim, api=api, method=method, query=query, body={}, ip=environ.get("REMOTE_ADDR", ""),
                        base_url=base_url, now=sim.now())  # fmt: skip
            return json_response(start, handle(call, raw, limits))
        if path.startswith("/static/"):
            return _static(start, path.removeprefix("/static/"))
        try:
            status, content_type, body, headers = pages.route(sim, method, path, query, raw, base_url)
        except pages.NotFound:
            return _respond(start, "404 Not Found", b"not found", "text/plain")
        return _respond(start, status, body, content_type, headers)

    return app


def _static(start: StartResponse, name: str) -> list[bytes]:
    target = (STATIC / name).resolve()
    if STATIC.resolve() not in target.parents or not target.is_file():
        return _respond(start, "404 Not Found", b"not found", "text/plain")
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return _respond(start, "200 OK", target.read_bytes(), kind)


class SimServer:
    """Server, callback dispatcher and ticker in one process."""

    def __init__(self, *, store: Store | None = None, config: SimConfig | None = None, host: str = "127.0.0.1",
                 port: int = 8300):  # fmt: skip
        self.store = store or Store()
        self.config = config or SimConfig()
        self.dispatcher = Dispatcher(self.store, self.config)
        self.sim = Sim(self.store, self.config, wake=self.dispatcher.wake)
        self.limits = Limits()
        self.httpd = make_server(host, port, make_app(self.sim, self.limits), server_class=ThreadingWSGIServer,
                                 handler_class=QuietHandler)  # fmt: skip
        self.httpd.store = self.store
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_base(self) -> str:
        return self.url + "/cgi-bin/"

    def start(self) -> SimServer:
        self.dispatcher.start()
        serve = lambda: self.httpd.serve_forever(poll_interval=0.05)  # noqa: E731
        for target, name in ((serve, "wecom-sim-http"), (self._tick_loop, "wecom-sim-tick")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.config.tick_interval):
            try:
                tick(self.sim)
            except Exception:  # pragma: no cover - keep ticking; the log says why
                logger.exception("wecom-sim: tick failed")

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.dispatcher.stop()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()
        self.store.close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self) -> None:
        """Serve until Ctrl-C or SIGTERM (``siyu wecom-sim serve``)."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
