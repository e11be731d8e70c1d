"""Streams: saved searches that tell you about new calls.

A stream is a search (workbench.results.search.search) with a name. ``ws.stream(name).new()`` returns
the calls that entered it since it was last read and marks them read. A stream may also name a
notification command or a webhook: after each import has been scored, every stream with one is
checked and, when calls entered it, the command is run (the calls as JSON on its standard input)
or the URL is sent a POST with the same JSON. A failing notification never fails the import: it
is reported as a warning and kept as the stream's ``last_error``.

The calls that match when a stream is created are its starting point, not news.
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
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.core.errors import NotFoundError, ValidationError
from workbench.storage.store import dumps, loads, now_iso

if TYPE_CHECKING:
    from workbench.workspace import Workspace

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    search TEXT NOT NULL,              -- JSON: the keyword arguments of results.search
    command TEXT,                      -- JSON list: argv run when calls enter
    webhook TEXT,                      -- URL sent a POST when calls enter
    created_at TEXT NOT NULL,
    last_read_at TEXT,
    last_notified_at TEXT,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS stream_calls (
    stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    call_id TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    notified_at TEXT,
    read_at TEXT,
    PRIMARY KEY (stream_id, call_id)
);
"""
SEARCH_KEYS = ("trackers", "filters", "date_from", "date_to", "text", "match", "min_mentions")
WEBHOOK_TIMEOUT_S = 10
COMMAND_TIMEOUT_S = 60


def ensure_schema(store) -> None:
    if getattr(store, "_streams_schema", False):
        return
    store._connection().executescript(SCHEMA)
    store._streams_schema = True


def _search_spec(ws: "Workspace", spec: dict) -> dict:
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


@dataclass
class Stream:
    ws: "Workspace"
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
        from workbench.results.search import search

        return search(self.ws, context=0, **self.search_spec).calls

    def _enter(self, calls: pl.DataFrame, *, read: bool = False, notified: bool = False) -> list[str]:
        """Record calls that match now and were never seen; returns those that entered."""
        seen = {r["call_id"] for r in self.ws.store.query("SELECT call_id FROM stream_calls WHERE stream_id=?", (self.id,))}
        entered = [c for c in calls["call_id"].to_list() if c not in seen]
        now = now_iso()
        with self.ws.store.transaction() as con:
            con.executemany(
                "INSERT OR IGNORE INTO stream_calls(stream_id, call_id, entered_at, notified_at, read_at) VALUES (?,?,?,?,?)",
                [(self.id, c, now, now if notified else None, now if read else None) for c in entered])
        return entered

    def peek(self) -> pl.DataFrame:
        """The calls :meth:`new` would return, without marking them read."""
        calls = self.matches()
        self._enter(calls)
        unread = {r["call_id"] for r in self.ws.store.query(
            "SELECT call_id FROM stream_calls WHERE stream_id=? AND read_at IS NULL", (self.id,))}
        return calls.filter(pl.col("call_id").is_in(list(unread)))

    def new(self) -> pl.DataFrame:
        """The calls that entered the stream since it was last read (most mentions first); marks them read."""
        out = self.peek()
        now = now_iso()
        with self.ws.store.transaction() as con:
            con.executemany("UPDATE stream_calls SET read_at=? WHERE stream_id=? AND call_id=?",
                            [(now, self.id, c) for c in out["call_id"].to_list()])
            con.execute("UPDATE streams SET last_read_at=? WHERE id=?", (now, self.id))
        return out

    def notify(self) -> int:
        """Send the calls that entered since the last notification to the command or webhook;
        returns how many were sent. Called after every import; safe to call any time."""
        if not self.command and not self.webhook:
            return 0
        calls = self.matches()
        self._enter(calls)
        pending = {r["call_id"] for r in self.ws.store.query(
            "SELECT call_id FROM stream_calls WHERE stream_id=? AND notified_at IS NULL", (self.id,))}
        fresh = calls.filter(pl.col("call_id").is_in(list(pending)))
        if fresh.height == 0:
            return 0
        payload = {
            "stream": self.name, "workspace": str(self.ws.path), "new_calls": fresh.height,
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
        now = now_iso()
        with self.ws.store.transaction() as con:
            if error is None:
                con.executemany("UPDATE stream_calls SET notified_at=? WHERE stream_id=? AND call_id=?",
                                [(now, self.id, c) for c in fresh["call_id"].to_list()])
                con.execute("UPDATE streams SET last_notified_at=?, last_error=NULL WHERE id=?", (now, self.id))
            else:
                con.execute("UPDATE streams SET last_error=? WHERE id=?", (error, self.id))
        self.last_error = error
        if error is not None:
            warnings.warn(f"Stream '{self.name}': {error}. The calls stay pending and are sent next time.", stacklevel=2)
            return 0
        return fresh.height

    def delete(self) -> None:
        with self.ws.store.transaction() as con:
            con.execute("DELETE FROM streams WHERE id=?", (self.id,))


def create_stream(ws: "Workspace", name: str, *, command: Any = None, webhook: str | None = None,
                  **search: Any) -> Stream:
    """Save a search as a stream. ``search`` takes the settings of ``ws.search`` (trackers, filters,
    date_from, date_to, text, match, min_mentions). The calls it finds now are its starting point."""
    ensure_schema(ws.store)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "a stream needs a name", "Give a name such as 'Discount asks in EMEA'.")
    name = " ".join(name.split())
    spec = _search_spec(ws, search)
    argv, url = _check_command(command), _check_webhook(webhook)
    from workbench.results.search import search as run_search

    calls = run_search(ws, context=0, **spec).calls  # validates the search before anything is stored
    if ws.store.query_one("SELECT id FROM streams WHERE name=?", (name,)):
        raise ValidationError("name", f"a stream named '{name}' already exists", "Choose another name or delete it.")
    with ws.store.transaction() as con:
        con.execute("INSERT INTO streams(name, search, command, webhook, created_at) VALUES (?,?,?,?,?)",
                          (name, dumps(spec), dumps(argv) if argv else None, url, now_iso()))
    stream = get_stream(ws, name)
    stream._enter(calls, read=True, notified=True)
    return stream


def get_stream(ws: "Workspace", name: str) -> Stream:
    ensure_schema(ws.store)
    row = ws.store.query_one("SELECT * FROM streams WHERE name=?", (" ".join(str(name).split()),))
    if row is None:
        names = [r["name"] for r in ws.store.query("SELECT name FROM streams ORDER BY name")]
        raise NotFoundError(f"No stream named '{name}' in {ws.path}. "
                            + (f"There are: {', '.join(names)}." if names else "Create one with ws.create_stream()."))
    return Stream(ws=ws, id=row["id"], name=row["name"], search_spec=loads(row["search"]),
                  command=loads(row["command"]), webhook=row["webhook"], last_error=row["last_error"])


def list_streams(ws: "Workspace") -> list[Stream]:
    ensure_schema(ws.store)
    return [get_stream(ws, r["name"]) for r in ws.store.query("SELECT name FROM streams ORDER BY id")]


def notify_streams(ws: "Workspace") -> dict[str, int]:
    """Run every stream's notification for calls that entered it; {stream: calls sent}."""
    out = {}
    for stream in list_streams(ws):
        if stream.command or stream.webhook:
            try:
                out[stream.name] = stream.notify()
            except Exception as exc:  # noqa: BLE001 - a broken stream (a tracker deleted) must not fail an import
                warnings.warn(f"Stream '{stream.name}' could not be checked: {exc}", stacklevel=2)
    return out
