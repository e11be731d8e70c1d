"""Webhook cases of issue 14 (item 7): real HTTP servers in threads, a tiny workspace, and
``run_webhook_cases`` for benchmarks/reliability.py.

The servers listen on 127.0.0.1, so every stream that uses them is created with
``allow_private=True``; that internal addresses are refused without it is a case of its own.
"""
from __future__ import annotations

import json
import threading
import time
import warnings
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from tests.conftest import tiny_corpus

# Internal, loopback, link-local and unspecified hosts a webhook must not reach unless allowed.
INTERNAL_URLS = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://localhost:22/",
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.7/hook",
    "http://192.168.1.1/hook",
    "http://[::1]:8080/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0:9/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT: not global either
]


class _Recording(BaseHTTPRequestHandler):
    """Answers 204 at once and keeps every JSON body it was sent (``server.received``)."""

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class _Trickling(BaseHTTPRequestHandler):
    """Reads the request, then answers one byte a second, for at most ``server.trickle_s`` seconds:
    each read of the client succeeds, so only a total deadline ends the exchange early."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(time.monotonic())
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        started = time.monotonic()
        for byte in answer:
            if self.server.stopping.is_set() or time.monotonic() - started > self.server.trickle_s:
                return  # closes without a complete answer
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return  # the client cut the connection: what the deadline is for
            self.server.stopping.wait(1.0)

    def log_message(self, *args):
        pass


@contextmanager
def http_server(trickle_s: float | None = None) -> Iterator[ThreadingHTTPServer]:
    """A local server in a thread: recording, or trickling for ``trickle_s`` seconds.
    ``server.url`` is its hook address and ``server.received`` what it got."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording if trickle_s is None else _Trickling)
    server.daemon_threads = True
    server.received, server.stopping, server.trickle_s = [], threading.Event(), trickle_s
    server.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def tiny_workspace(path: Path, *, deadline_s: float = 2.0, max_attempts: int = 2):
    """A workspace of 3 calls (no embeddings, no trackers: a stream on ``text`` needs neither),
    delivering with a short total deadline and no wait between attempts."""
    from workbench import Workspace
    from workbench.results.outbox import DeliverySettings

    ws = Workspace(path)
    ws.import_calls(*tiny_corpus(3), progress=False)
    ws.services.streams.settings = DeliverySettings(deadline_s=deadline_s, command_deadline_s=deadline_s,
                                                    max_attempts=max_attempts, backoff_s=0.0)
    return ws


def timed_import(ws, start: int, n: int = 2) -> float:
    """Seconds an import of ``n`` new calls (each saying "better price") takes to return."""
    began = time.monotonic()
    ws.import_calls(*tiny_corpus(n, start=start), progress=False)
    return time.monotonic() - began


def run_webhook_cases(workdir: Path, *, deadline_s: float = 2.0) -> dict[str, int]:
    """Every webhook case once, counted, for benchmarks/reliability.py (about 10 s):
    a trickling webhook, each of INTERNAL_URLS, and a good webhook. Returns cases tried, imports
    held over 1 s, trickling deliveries failed and failures visible in the stream status,
    internal addresses accepted, and good payloads not received exactly once."""
    from workbench.core.errors import ValidationError

    out = dict(cases=0, imports_held_over_1s=0, deliveries_failed=0, failures_visible=0,
               internal_addresses_accepted=0, payloads_not_exactly_once=0)
    ws = tiny_workspace(Path(workdir) / "webhooks", deadline_s=deadline_s, max_attempts=1)
    with http_server(trickle_s=3 * deadline_s) as slow:
        stream = ws.create_stream("Trickling", text="better price", webhook=slow.url, allow_private=True)
        out["cases"] += 1
        out["imports_held_over_1s"] += timed_import(ws, 100) > 1.0
        ws.services.streams.outbox.wait(10 * deadline_s)
        status = stream.status()
        out["deliveries_failed"] += status["failed"]
        out["failures_visible"] += status["failed_attempts"] > 0 and "deadline" in (status["last_error"] or "")
        stream.delete()
    for i, url in enumerate(INTERNAL_URLS):
        out["cases"] += 1
        try:
            ws.create_stream(f"Internal {i}", text="better price", webhook=url)
            out["internal_addresses_accepted"] += 1
        except ValidationError:
            pass
    with http_server() as good:
        ws.create_stream("Good", text="better price", webhook=good.url, allow_private=True)
        out["cases"] += 1
        out["imports_held_over_1s"] += timed_import(ws, 200) > 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ws.deliver_streams()
            ws.deliver_streams()
        out["payloads_not_exactly_once"] += len(good.received) != 1
    return out
