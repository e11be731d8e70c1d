"""Streams: saved searches that tell you about new calls.

A stream is a search (workbench.results.search.search) with a name. ``ws.stream(name).new()`` returns
the calls that entered it since it was last read and marks them read. A stream may also name a
notification command or a webhook: after each import has been scored, every stream with one is
checked and, when calls entered it, the command is run (the calls as JSON on its standard input)
or the URL is sent a POST with the same JSON. A failing notification never fails the import: it
is reported as a warning and kept as the stream's ``last_error``.

The calls that match when a stream is created are its starting point, not news. Notifying is an
explicit step of the Workspace after an import and its scoring (``Streams.notify_all``), never a
side effect of storing calls.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.activation.context import LiveContext
from workbench.core.errors import NotFoundError, ValidationError
from workbench.results.search import activated_records, search
from workbench.storage.store import loads
from workbench.storage.streams import StreamRows

SEARCH_KEYS = ("trackers", "filters", "date_from", "date_to", "text", "match", "min_mentions")
WEBHOOK_TIMEOUT_S = 10
COMMAND_TIMEOUT_S = 60


def _search_spec(spec: dict) -> dict:
    unknown = set(spec) - set(SEARCH_KEYS)
    if unknown:
        raise ValidationError(", ".join(sorted(unknown)), "is not a search setting",
                              f"Use any of: {', '.join(SEARCH_KEYS)}.")
    out = {k: v for k, v in spec.items() if v is not None}
    if "trackers" in out:
        t = out["trackers"]
        out["trackers"] = [t] if isinstance(t, str) else [getattr(x, "name", x) for x in t]
    for k in ("date_from", "date_to"):
        if k in out and isinstance(out[k], (dt.date, dt.datetime)):
            out[k] = out[k].isoformat()
    if not out.get("trackers") and not out.get("text"):
        raise ValidationError("trackers", "a stream needs trackers or text to look for",
                              "Give trackers=[...] and/or text='...'.")
    return out


def _check_webhook(url: str | None) -> str | None:
    if url is None:
        return None
    parsed = urllib.parse.urlparse(str(url))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationError("webhook", f"{url!r} is not an http(s) URL",
                              "Give a URL such as 'http://127.0.0.1:8765/hook'.")
    return str(url)


def _check_command(command: Any) -> list[str] | None:
    if command is None:
        return None
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ValidationError("command", "is empty", "Give a program to run, e.g. 'notify-send' or ['python', 'hook.py'].")
    return argv


def _matches(ctx: LiveContext, spec: dict) -> pl.DataFrame:
    """Every call a saved search finds now."""
    records = activated_records(ctx, spec.get("trackers"), default_all=False)
    return search(ctx, records, context=0, **{k: v for k, v in spec.items() if k != "trackers"}).calls


@dataclass
class Stream:
    ctx: LiveContext
    rows: StreamRows
    id: int
    name: str
    search_spec: dict
    command: list[str] | None
    webhook: str | None
    last_error: str | None = None

    def __repr__(self) -> str:
        return f"Stream({self.name!r}, {self.search_spec})"

    def matches(self) -> pl.DataFrame:
        """Every call the saved search finds now."""
        return _matches(self.ctx, self.search_spec)

    def _enter(self, calls: pl.DataFrame, *, read: bool = False, notified: bool = False) -> list[str]:
        """Record calls that match now and were never seen; returns those that entered."""
        seen = self.rows.seen(self.id)
        entered = [c for c in calls["call_id"].to_list() if c not in seen]
        self.rows.enter(self.id, entered, read=read, notified=notified)
        return entered

    def peek(self) -> pl.DataFrame:
        """The calls :meth:`new` would return, without marking them read."""
        calls = self.matches()
        self._enter(calls)
        return calls.filter(pl.col("call_id").is_in(list(self.rows.unread(self.id))))

    def new(self) -> pl.DataFrame:
        """The calls that entered the stream since it was last read (most mentions first); marks them read."""
        out = self.peek()
        self.rows.mark_read(self.id, out["call_id"].to_list())
        return out

    def notify(self) -> int:
        """Send the calls that entered since the last notification to the command or webhook;
        returns how many were sent. Called after every import; safe to call any time."""
        if not self.command and not self.webhook:
            return 0
        calls = self.matches()
        self._enter(calls)
        fresh = calls.filter(pl.col("call_id").is_in(list(self.rows.unnotified(self.id))))
        if fresh.height == 0:
            return 0
        payload = {
            "stream": self.name, "workspace": str(self.ctx.path), "new_calls": fresh.height,
            "sent_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "calls": json.loads(fresh.write_json()),
        }
        body = json.dumps(payload, default=str).encode("utf-8")
        error = None
        try:
            if self.webhook:
                req = urllib.request.Request(self.webhook, data=body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "User-Agent": "smart-tracker-workbench"})
                with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_S) as resp:
                    if resp.status >= 300:
                        error = f"webhook {self.webhook} answered {resp.status}"
            if self.command and error is None:
                env = {**os.environ, "WORKBENCH_STREAM": self.name, "WORKBENCH_NEW_CALLS": str(fresh.height)}
                done = subprocess.run(self.command, input=body, env=env, capture_output=True,
                                      timeout=COMMAND_TIMEOUT_S, check=False)
                if done.returncode != 0:
                    error = (f"command {shlex.join(self.command)} exited with {done.returncode}: "
                             f"{done.stderr.decode(errors='replace').strip()[-300:]}")
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired) as exc:
            error = f"{'webhook ' + self.webhook if self.webhook else 'command'} failed: {exc}"
        if error is None:
            self.rows.mark_notified(self.id, fresh["call_id"].to_list())
        else:
            self.rows.record_error(self.id, error)
        self.last_error = error
        if error is not None:
            warnings.warn(f"Stream '{self.name}': {error}. The calls stay pending and are sent next time.", stacklevel=2)
            return 0
        return fresh.height

    def delete(self) -> None:
        self.rows.delete(self.id)


class Streams:
    """The streams of one workspace."""

    def __init__(self, ctx: LiveContext) -> None:
        self.ctx = ctx
        self.rows = StreamRows(ctx.store)

    def create(self, name: str, *, command: Any = None, webhook: str | None = None, **search_settings: Any) -> Stream:
        """Save a search as a stream. ``search_settings`` are those of ``ws.search`` (trackers,
        filters, date_from, date_to, text, match, min_mentions). The calls it finds now are its
        starting point."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name", "a stream needs a name", "Give a name such as 'Discount asks in EMEA'.")
        name = " ".join(name.split())
        spec = _search_spec(search_settings)
        argv, url = _check_command(command), _check_webhook(webhook)
        calls = _matches(self.ctx, spec)  # validates the search before anything is stored
        if self.rows.find(name) is not None:
            raise ValidationError("name", f"a stream named '{name}' already exists", "Choose another name or delete it.")
        self.rows.insert(name, spec, argv, url)
        stream = self.get(name)
        stream._enter(calls, read=True, notified=True)
        return stream

    def get(self, name: str) -> Stream:
        row = self.rows.find(name)
        if row is None:
            names = self.rows.names(order="name")
            raise NotFoundError(f"No stream named '{name}' in {self.ctx.path}. "
                                + (f"There are: {', '.join(names)}." if names else "Create one with ws.create_stream()."))
        return Stream(ctx=self.ctx, rows=self.rows, id=row["id"], name=row["name"], search_spec=loads(row["search"]),
                      command=loads(row["command"]), webhook=row["webhook"], last_error=row["last_error"])

    def all(self) -> list[Stream]:
        return [self.get(name) for name in self.rows.names()]

    def notify_all(self) -> dict[str, int]:
        """Run every stream's notification for calls that entered it; {stream: calls sent}."""
        out = {}
        for stream in self.all():
            if stream.command or stream.webhook:
                try:
                    out[stream.name] = stream.notify()
                except Exception as exc:  # noqa: BLE001 - a broken stream (a tracker deleted) must not fail an import
                    warnings.warn(f"Stream '{stream.name}' could not be checked: {exc}", stacklevel=2)
        return out
