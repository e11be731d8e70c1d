"""Webhooks leave the import path (issue 14, item 7): an import only queues a delivery; a sender
delivers it within a total deadline, retries it, and counts what failed; internal addresses are
refused unless allowed. Real HTTP servers on 127.0.0.1 (tests/reliability/webhook_cases.py)."""
from __future__ import annotations

import sys
import time

import pytest

from tests.reliability.webhook_cases import (INTERNAL_URLS, http_server, run_webhook_cases, timed_import,
                                             tiny_workspace)
from workbench.cli.app import main
from workbench.core.errors import ValidationError

DEADLINE_S = 2.0


def test_an_import_never_waits_on_a_trickling_webhook(tmp_path, capsys):
    ws = tiny_workspace(tmp_path / "ws", deadline_s=DEADLINE_S, max_attempts=2)
    with http_server(trickle_s=4 * DEADLINE_S) as slow:  # each read succeeds; the answer takes 8 s
        stream = ws.create_stream("Price asks", text="better price", webhook=slow.url, allow_private=True)
        began = time.monotonic()
        assert timed_import(ws, 100) < 1.0  # queued; the background sender has the wait
        assert ws.services.streams.outbox.wait(5 * DEADLINE_S)
        took = time.monotonic() - began
        assert len(slow.received) == 1
        # The first attempt ended at its total deadline, not after the server's 8 s.
        assert DEADLINE_S - 0.5 < took < DEADLINE_S + 2.0
        status = stream.status()
        assert (status["pending"], status["sent"], status["failed"], status["failed_attempts"]) == (1, 0, 0, 1)
        assert "total deadline of 2 s" in status["last_error"]
        row = ws.services.streams.outbox.rows.of_stream(stream.id)[0]
        assert row["attempts"] == 1 and row["next_attempt_at"] and row["last_error"] == status["last_error"]

        with pytest.warns(UserWarning, match="given up"):  # the second and last attempt
            report = ws.deliver_streams()
        assert (report.sent, report.failed_attempts, report.given_up) == (0, 1, 1)
    status = stream.status()
    assert (status["pending"], status["failed"], status["failed_attempts"]) == (0, 1, 2)
    assert main(["-w", str(ws.path), "streams"]) == 0
    listed = capsys.readouterr().out
    assert "Price asks: webhook http://127.0.0.1" in listed
    assert "0 pending, 0 sent, 1 failed; 2 failed attempts; last error: no complete answer" in listed


def test_a_slow_command_runs_outside_the_import_and_is_counted(tmp_path):
    ws = tiny_workspace(tmp_path / "ws", deadline_s=1.0, max_attempts=3)
    stream = ws.create_stream("By command", text="better price",
                              command=[sys.executable, "-c", "import time; time.sleep(10)"])
    assert timed_import(ws, 100) < 1.0
    assert ws.services.streams.outbox.wait(10)
    status = stream.status()
    assert (status["pending"], status["failed_attempts"]) == (1, 1)
    assert "did not finish within 1 s" in status["last_error"]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused_unless_allowed(tmp_path, url):
    ws = tiny_workspace(tmp_path / "ws")
    with pytest.raises(ValidationError, match="internal, loopback or link-local") as e:
        ws.create_stream("Hook", text="better price", webhook=url)
    assert e.value.field == "webhook" and "allow_private=True" in str(e.value)
    assert ws.streams() == []
    assert ws.create_stream("Hook", text="better price", webhook=url, allow_private=True).allow_private


def test_an_address_allowed_then_refused_is_checked_again_when_sending(tmp_path):
    ws = tiny_workspace(tmp_path / "ws")
    with http_server() as good:
        ws.create_stream("Hook", text="better price", webhook=good.url, allow_private=True)
        assert main(["-w", str(ws.path), "streams", "allow-private", "Hook", "--refuse"]) == 0
        assert not ws.stream("Hook").allow_private
        ws.services.streams.settings.background = False
        timed_import(ws, 100)
        with pytest.warns(UserWarning, match="refused: .* resolves to 127.0.0.1.*given up"):
            ws.deliver_streams()
        assert good.received == []  # refused for good: trying again cannot help
    assert ws.stream("Hook").status()["failed"] == 1


def test_a_good_webhook_gets_the_payload_exactly_once(tmp_path):
    ws = tiny_workspace(tmp_path / "ws")
    with http_server() as good:
        stream = ws.create_stream("Price asks", text="better price", webhook=good.url, allow_private=True)
        timed_import(ws, 100)
        for _ in range(2):  # the background pass and two more: still one POST
            ws.deliver_streams()
        timed_import(ws, 100)  # the same calls again: skipped, nothing new to tell
        ws.deliver_streams()
    assert len(good.received) == 1
    assert good.received[0]["stream"] == "Price asks" and good.received[0]["new_calls"] == 2
    assert {c["call_id"] for c in good.received[0]["calls"]} == {"call-0100", "call-0101"}
    assert {k: stream.status()[k] for k in ("pending", "sent", "failed", "failed_attempts")} == {
        "pending": 0, "sent": 1, "failed": 0, "failed_attempts": 0}


def test_the_import_command_leaves_sending_to_a_process_of_its_own(tmp_path, capsys):
    ws = tiny_workspace(tmp_path / "ws")
    calls, utts = tmp_path / "calls.parquet", tmp_path / "utterances.parquet"
    from tests.conftest import tiny_corpus

    new_calls, new_utts = tiny_corpus(2, start=100)
    new_calls.write_parquet(calls)
    new_utts.write_parquet(utts)
    with http_server() as good:
        ws.create_stream("Price asks", text="better price", webhook=good.url, allow_private=True)
        assert main(["-w", str(ws.path), "import", str(calls), str(utts)]) == 0
        assert ws.services.streams.outbox._thread is None  # nothing of this process sends
        waited = time.monotonic()
        while not good.received and time.monotonic() - waited < 30:
            time.sleep(0.2)
        assert len(good.received) == 1
    assert ws.stream("Price asks").status()["sent"] == 1


def test_the_benchmark_cases_count_no_failure(tmp_path):
    counts = run_webhook_cases(tmp_path, deadline_s=1.0)
    assert counts == {"cases": len(INTERNAL_URLS) + 2, "imports_held_over_1s": 0, "deliveries_failed": 1,
                      "failures_visible": 1, "internal_addresses_accepted": 0, "payloads_not_exactly_once": 0}
