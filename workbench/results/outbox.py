"""The sender of stream notifications: delivers the outbox (workbench.storage.outbox) after imports.

An import only queues a delivery per stream target (webhook or command). This sender then tries
each due delivery once per pass: a webhook within a total deadline (workbench.results.webhooks), a
command within its own; a failed attempt is recorded on the row (attempts, last_error) and tried
again after a backoff that doubles each time, until ``max_attempts``, when the delivery is marked
failed for good. Every count is kept in the table, so ``workbench streams`` shows what failed.

After an import a pass runs in a background thread of the same process (``send_in_background``):
the import has returned by then, and the thread is not a daemon, so a script still delivers
before it exits (bounded by the deadlines). Retries that are not due yet wait for the next import
or ``workbench streams send`` (from cron, say); no thread sleeps waiting for them.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import threading
from dataclasses import dataclass, field

from workbench.results.webhooks import DeliveryError, post_json
from workbench.storage.outbox import DeliveryRows
from workbench.storage.store import Store, loads
from workbench.storage.streams import StreamRows


@dataclass
class DeliverySettings:
    """How deliveries are sent; ``ws.services.streams.settings`` holds the workspace's."""

    deadline_s: float = 15.0          # a webhook's whole exchange: connect, send, every read
    command_deadline_s: float = 60.0  # a command's run
    max_attempts: int = 8             # then the delivery is marked failed
    backoff_s: float = 30.0           # wait before the 2nd attempt; doubled after each failure
    backoff_cap_s: float = 3600.0
    background: bool = True           # after an import, send in a thread of this process

    def retry_in(self, attempts_made: int) -> float | None:
        """Seconds until the next attempt after ``attempts_made`` failed ones; None: give up."""
        if attempts_made >= self.max_attempts:
            return None
        return min(self.backoff_cap_s, self.backoff_s * 2 ** (attempts_made - 1))


@dataclass
class DeliveryReport:
    """What one pass of the sender did."""

    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)  # "stream: error", one per failed attempt

    def __str__(self) -> str:
        return (f"{self.sent} sent, {self.failed_attempts} failed attempts"
                + (f" ({self.given_up} given up)" if self.given_up else ""))


def _run_command(argv: list[str], body: bytes, stream_name: str, n_calls: int, deadline_s: float) -> None:
    env = {**os.environ, "WORKBENCH_STREAM": stream_name, "WORKBENCH_NEW_CALLS": str(n_calls)}
    try:
        done = subprocess.run(argv, input=body, env=env, capture_output=True, timeout=deadline_s, check=False)
    except subprocess.TimeoutExpired:
        raise DeliveryError(f"command {shlex.join(argv)} did not finish within {deadline_s:g} s") from None
    except OSError as exc:
        raise DeliveryError(f"command {shlex.join(argv)} could not run: {exc}") from None
    if done.returncode != 0:
        raise DeliveryError(f"command {shlex.join(argv)} exited with {done.returncode}: "
                            f"{done.stderr.decode(errors='replace').strip()[-300:]}")


class Outbox:
    """Queues and sends the notifications of one workspace's streams."""

    def __init__(self, store: Store, settings: DeliverySettings | None = None) -> None:
        self.rows = DeliveryRows(store)
        self.streams = StreamRows(store)
        self.settings = settings or DeliverySettings()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False

    def enqueue(self, stream: dict, call_ids: list[str], payload: dict) -> int:
        """Queue ``payload`` for each target of ``stream`` (a streams row) and mark the calls told;
        returns the number of deliveries queued."""
        targets = [t for t in ("webhook", "command") if stream[t]]
        return len(self.rows.enqueue(stream["id"], call_ids, [(t, payload) for t in targets]))

    def deliver(self, stream_id: int | None = None) -> DeliveryReport:
        """Try every due delivery once (only ``stream_id``'s when given), after a background pass
        of this process has finished; returns what happened."""
        self.wait()
        return self._pass(stream_id)

    def _pass(self, stream_id: int | None = None) -> DeliveryReport:
        report, after = DeliveryReport(), 0
        lease_s = max(self.settings.deadline_s, self.settings.command_deadline_s) + 30
        while (row := self.rows.claim_next(after, lease_s, stream_id)) is not None:
            after = row["id"]
            stream = self.streams.by_id(row["stream_id"])
            if stream is None:  # deleted while we were sending: its deliveries went with it
                continue
            try:
                self._attempt(row, stream)
            except DeliveryError as exc:
                retry_in = None if exc.permanent else self.settings.retry_in(row["attempts"] + 1)
                self.rows.record_failure(row["id"], stream["id"], str(exc), retry_in)
                report.failed_attempts += 1
                report.given_up += retry_in is None
                report.errors.append(f"{stream['name']}: {exc}"
                                     + ("; given up" if retry_in is None else f"; tried again in {retry_in:g} s"))
            else:
                self.rows.record_sent(row["id"], stream["id"])
                report.sent += 1
        return report

    def _attempt(self, row, stream) -> None:
        body = row["payload"].encode("utf-8")
        if row["target"] == "webhook":
            post_json(stream["webhook"], body, deadline_s=self.settings.deadline_s,
                      allow_private=bool(stream["allow_private"]))
        else:
            _run_command(loads(stream["command"]), body, stream["name"], row["n_calls"],
                         self.settings.command_deadline_s)

    def send_in_background(self) -> None:
        """Run a pass in a thread of this process and return at once; a pass already running is
        followed by another, so deliveries queued meanwhile are not left for the next import."""
        with self._lock:
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(target=self._background, name="workbench-stream-sender")
            self._thread.start()

    def _background(self) -> None:
        try:
            while True:
                self._pass()
                with self._lock:  # cleared under the lock: a request made after this starts a new thread
                    if not self._again:
                        self._thread = None
                        return
                    self._again = False
        except BaseException:
            with self._lock:
                self._thread = None
            raise

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for this process's background pass; False when it is still running after ``timeout``."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

