"""Streams: saved searches that tell you about new calls.

A stream is a search (workbench.results.search.search) with a name. ``ws.stream(name).new()`` returns
the calls that entered it since it was last read and marks them read. A stream may also name a
notification command or a webhook: after each import has been scored, every stream with one is
checked and, when calls entered it, a delivery is queued in the outbox (the calls as JSON). The
sender (workbench.results.outbox) then runs the command (the JSON on its standard input) or POSTs
the JSON to the URL, in the background, with a total deadline and retries, so an import never
waits on a webhook. A failing notification never fails the import: it is counted on the stream
(``stream.status()``, ``workbench streams``) and kept as the stream's ``last_error``.

Webhooks go to public addresses only: a URL whose host is internal, loopback or link-local is
refused when the stream is created and again when a delivery is sent, unless the stream was
created with ``allow_private=True``.

The calls that match when a stream is created are its starting point, not news. Notifying is an
explicit step of the Workspace after an import and its scoring (``Streams.notify_all``), never a
side effect of storing calls.
"""
from __future__ import annotations

import datetime as dt
import json
import shlex
import warnings
from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.activation.context import LiveContext
from workbench.core.errors import NotFoundError, ValidationError
from workbench.results.outbox import DeliveryReport, DeliverySettings, Outbox
from workbench.results.search import activated_records, search
from workbench.results.webhooks import resolve_webhook
from workbench.storage.store import loads
from workbench.storage.streams import StreamRows

SEARCH_KEYS = ("trackers", "filters", "date_from", "date_to", "text", "match", "min_mentions")


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


def _check_webhook(url: str | None, allow_private: bool) -> str | None:
    if url is None:
        return None
    resolve_webhook(url, allow_private=allow_private)  # refuses a bad URL, and internal hosts unless allowed
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
    outbox: Outbox
    id: int
    name: str
    search_spec: dict
    command: list[str] | None
    webhook: str | None
    last_error: str | None = None
    allow_private: bool = False
    paused: bool = False

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
        """Queue the calls that entered since the last notification for the command or webhook;
        returns how many calls were queued. Nothing is sent here (see :meth:`deliver`). Called
        after every import; safe to call any time."""
        if (not self.command and not self.webhook) or self.paused:
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
        row = {"id": self.id, "webhook": self.webhook, "command": self.command}
        self.outbox.enqueue(row, fresh["call_id"].to_list(), payload)
        return fresh.height

    def deliver(self) -> DeliveryReport:
        """Send this stream's due deliveries now (each within its deadline); returns what happened."""
        return _warn_failures(self.outbox.deliver(self.id))

    def status(self) -> dict[str, Any]:
        """Where its notifications stand: deliveries pending, sent and failed (given up), every
        failed attempt, the last error and when a delivery last got through."""
        row = self.rows.by_id(self.id)
        return {"stream": self.name, "target": describe_target(self), "paused": self.paused,
                **self.outbox.rows.counts(self.id),
                "last_error": row["last_error"], "last_notified_at": row["last_notified_at"]}

    def allow_private_addresses(self, allowed: bool = True) -> None:
        """Let this stream's webhook reach an internal, loopback or link-local address (a service
        on your own machine or network), or refuse it again."""
        self.rows.set_allow_private(self.id, allowed)
        self.allow_private = allowed

    def pause(self) -> None:
        """Stop telling the command or webhook about new calls; ``new()`` still lists them."""
        self.rows.set_paused(self.id, True)
        self.paused = True

    def resume(self) -> None:
        """Tell the command or webhook again, from now on: the calls that entered while it was
        paused become its starting point (as at creation), not a burst of old news."""
        self._enter(self.matches())
        self.rows.mark_notified(self.id, list(self.rows.unnotified(self.id)))
        self.rows.set_paused(self.id, False)
        self.paused = False

    def delete(self) -> None:
        self.rows.delete(self.id)


def describe_target(stream: Stream) -> str:
    """Where a stream's notifications go: 'webhook URL', 'command ...', or '-'."""
    parts = ([f"webhook {stream.webhook}"] if stream.webhook else []) + (
        [f"command {shlex.join(stream.command)}"] if stream.command else [])
    return ", ".join(parts) or "-"


def _warn_failures(report: DeliveryReport) -> DeliveryReport:
    for error in report.errors:
        warnings.warn(f"Stream {error}. `workbench streams` shows every stream's deliveries.", stacklevel=3)
    return report


class Streams:
    """The streams of one workspace, and the outbox that sends their notifications."""

    def __init__(self, ctx: LiveContext) -> None:
        self.ctx = ctx
        self.rows = StreamRows(ctx.store)
        self.outbox = Outbox(ctx.store)

    @property
    def settings(self) -> DeliverySettings:
        """Deadlines, retries and whether imports send in the background (``DeliverySettings``)."""
        return self.outbox.settings

    @settings.setter
    def settings(self, value: DeliverySettings) -> None:
        self.outbox.settings = value

    def create(self, name: str, *, command: Any = None, webhook: str | None = None, allow_private: bool = False,
               **search_settings: Any) -> Stream:
        """Save a search as a stream. ``search_settings`` are those of ``ws.search`` (trackers,
        filters, date_from, date_to, text, match, min_mentions). The calls it finds now are its
        starting point. A webhook must resolve to public addresses unless ``allow_private``."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name", "a stream needs a name", "Give a name such as 'Discount asks in EMEA'.")
        name = " ".join(name.split())
        spec = _search_spec(search_settings)
        argv, url = _check_command(command), _check_webhook(webhook, bool(allow_private))
        calls = _matches(self.ctx, spec)  # validates the search before anything is stored
        if self.rows.find(name) is not None:
            raise ValidationError("name", f"a stream named '{name}' already exists", "Choose another name or delete it.")
        self.rows.insert(name, spec, argv, url, allow_private=bool(allow_private))
        stream = self.get(name)
        stream._enter(calls, read=True, notified=True)
        return stream

    def get(self, name: str) -> Stream:
        row = self.rows.find(name)
        if row is None:
            names = self.rows.names(order="name")
            raise NotFoundError(f"No stream named '{name}' in {self.ctx.path}. "
                                + (f"There are: {', '.join(names)}." if names else "Create one with ws.create_stream()."))
        return Stream(ctx=self.ctx, rows=self.rows, outbox=self.outbox, id=row["id"], name=row["name"],
                      search_spec=loads(row["search"]), command=loads(row["command"]), webhook=row["webhook"],
                      last_error=row["last_error"], allow_private=bool(row["allow_private"]),
                      paused=bool(row["paused"]))

    def all(self) -> list[Stream]:
        return [self.get(name) for name in self.rows.names()]

    def rename_tracker(self, old_name: str, new_name: str) -> list[str]:
        """Follow a tracker's new name in every stream that searches for it; returns those streams."""
        def key(name: str) -> str:  # tracker names match whatever the case and spacing
            return " ".join(name.split()).casefold()

        changed = []
        for stream in self.all():
            names = stream.search_spec.get("trackers") or []
            renamed = [new_name if key(n) == key(old_name) else n for n in names]
            if renamed != names:
                self.rows.set_search(stream.id, {**stream.search_spec, "trackers": renamed})
                changed.append(stream.name)
        return changed

    def notify_all(self) -> dict[str, int]:
        """Queue every stream's notification for calls that entered it, then start the background
        sender (``settings.background``); {stream: calls queued}. Never waits on a delivery."""
        out = {}
        for stream in self.all():
            if stream.command or stream.webhook:
                try:
                    out[stream.name] = stream.notify()
                except Exception as exc:  # noqa: BLE001 - a broken stream (a tracker deleted) must not fail an import
                    warnings.warn(f"Stream '{stream.name}' could not be checked: {exc}", stacklevel=2)
        # Also when nothing new was queued: retries that came due since are sent too.
        if self.settings.background and self.outbox.rows.pending_count():
            self.outbox.send_in_background()
        return out

    def deliver(self) -> DeliveryReport:
        """Send every due delivery now, each within its deadline (after this process's background
        sender is done); warns about each failed attempt and returns what happened."""
        return _warn_failures(self.outbox.deliver())

    def status(self) -> pl.DataFrame:
        """One row per stream: target, deliveries pending, sent, failed, failed attempts, last error."""
        rows = [stream.status() for stream in self.all()]
        schema = {"stream": pl.Utf8, "target": pl.Utf8, "paused": pl.Boolean, "pending": pl.Int64, "sent": pl.Int64, "failed": pl.Int64,
                  "failed_attempts": pl.Int64, "last_error": pl.Utf8, "last_notified_at": pl.Utf8}
        return pl.DataFrame(rows, schema=schema)
