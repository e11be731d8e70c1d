"""Sending a stream's webhook: public addresses only, unless allowed, and one total deadline.

Two things urllib does not give a notification sender:

- **A total deadline.** urllib's ``timeout`` applies to each socket operation, so a server that
  answers one byte every few seconds holds the caller for as long as it likes. Here a timer shuts
  the socket down when the deadline passes, which ends a blocked read or write at once; connecting
  gets the time that is left as its timeout.
- **No internal addresses.** A webhook URL is a request the workbench makes on the user's behalf;
  one that names 169.254.169.254 (cloud metadata), localhost or a 10.x host reaches services that
  were never meant to be reachable from it. The host is resolved and every address must be
  global, unless the user allowed private ones for this stream. The connection then goes to the
  address that was checked, so the name cannot resolve to another one in between, and redirects
  are not followed (a public server could otherwise send the POST on to an internal one).
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse

from workbench.core.errors import ValidationError

RESPONSE_LIMIT = 65536  # bytes of an answer read; a webhook's answer is not used beyond its status


class DeliveryError(Exception):
    """A webhook that did not take the message; ``permanent`` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class UnresolvedHostError(ValidationError):
    """The webhook's host name did not resolve (now: it may later)."""


def check_webhook_url(url: str) -> urllib.parse.SplitResult:
    """The parsed URL, or a ValidationError on field ``webhook`` when it is not http(s) with a host."""
    parsed = urllib.parse.urlsplit(str(url))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValidationError("webhook", f"{url!r} is not an http(s) URL",
                              "Give a URL such as 'https://hooks.example.com/workbench'.")
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValidationError("webhook", f"{url!r} has a bad port: {exc}", "Give a port from 1 to 65535.") from None
    return parsed


def _not_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    # is_global is False for private, loopback, link-local, shared (100.64/10), reserved and
    # documentation ranges; multicast is global in some ranges but never a webhook.
    return not ip.is_global or ip.is_multicast


def _getaddrinfo(host: str, port: int, timeout_s: float) -> list:
    """socket.getaddrinfo within ``timeout_s``: it has no timeout of its own, so it runs in a
    daemon thread that is left to the resolver when it takes longer."""
    found: list = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            found.append(exc)

    thread = threading.Thread(target=lookup, name="workbench-webhook-dns", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not found:
        raise socket.gaierror(f"no answer from the resolver within {timeout_s:g} s")
    if isinstance(found[0], Exception):
        raise found[0]
    return found[0]


def resolve_webhook(url: str, *, allow_private: bool, timeout_s: float = 10.0) -> tuple[urllib.parse.SplitResult, str]:
    """The parsed URL and the address to connect to. ValidationError (field ``webhook``) when the
    host does not resolve within ``timeout_s``, or resolves to an internal, loopback or link-local
    address and ``allow_private`` is False."""
    parsed = check_webhook_url(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = _getaddrinfo(parsed.hostname, port, timeout_s)
    except (OSError, UnicodeError) as exc:
        raise UnresolvedHostError("webhook", f"the host of {url!r} cannot be resolved ({exc})",
                              "Check the host name.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    private = [a for a in addresses if _not_public(a)]
    if private and not allow_private:
        raise ValidationError(
            "webhook", f"{url!r} resolves to {', '.join(private)}: an internal, loopback or link-local address",
            "Webhooks go to public addresses only. If you mean this host (a service on your own machine "
            "or network), create the stream with allow_private=True.")
    return parsed, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to the address that was checked, whatever the name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """The same for HTTPS; the certificate is still checked against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        # The handshake runs after self.sock is set, so the deadline's timer can cut it too.
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False)
        self.sock.do_handshake()


def _cut(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    expired.set()
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a read or write blocked in the sending thread
        except OSError:
            pass


def post_json(url: str, body: bytes, *, deadline_s: float, allow_private: bool) -> int:
    """POST ``body`` to ``url``; returns the answer's status (2xx). Raises DeliveryError when the
    address is refused, the server fails or answers otherwise, or the whole exchange (connect,
    send, every read of the answer) takes longer than ``deadline_s`` seconds."""
    deadline = time.monotonic() + deadline_s  # the name's lookup counts too
    try:
        parsed, address = resolve_webhook(url, allow_private=allow_private, timeout_s=deadline_s)
    except UnresolvedHostError as exc:
        raise DeliveryError(str(exc)) from None  # it may resolve later: tried again
    except ValidationError as exc:
        raise DeliveryError(f"refused: {exc}", permanent=True) from None  # a refused address stays refused
    remaining = max(0.001, deadline - time.monotonic())
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    kind = _PinnedHTTPS if parsed.scheme == "https" else _PinnedHTTP
    conn = kind(parsed.hostname, port, address, timeout=remaining)
    expired = threading.Event()
    timer = threading.Timer(remaining, _cut, args=(conn, expired))
    timer.daemon = True
    timer.start()
    path = urllib.parse.urlunsplit(("", "", parsed.path or "/", parsed.query, ""))
    try:
        conn.connect()
        if expired.is_set() or time.monotonic() > deadline:  # the timer fired before there was a socket to cut
            raise TimeoutError
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "smart-tracker-workbench", "Connection": "close"})
        response = conn.getresponse()
        response.read(RESPONSE_LIMIT)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise DeliveryError(f"no complete answer from {url} within the total deadline of {deadline_s:g} s") from None
        raise DeliveryError(f"{url} failed: {exc}") from None
    finally:
        timer.cancel()
        conn.close()
    if not 200 <= status < 300:
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        raise DeliveryError(f"{url} answered {status}{note}")
    return status
