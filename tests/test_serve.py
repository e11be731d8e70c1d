"""serve_forever and the process-group handling behind every server, on a real (tiny) one:
Python's http.server, which starts in a fraction of a second."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.serve.processes import process_group_members
from workbench.serve.servers import Server

REPO = Path(__file__).resolve().parents[1]

SERVE_SCRIPT = textwrap.dedent("""
    import sys
    from workbench.serve.servers import Server, serve_forever

    class Static(Server):
        name = "static"
        def _argv(self):
            # A child of its own under the server, as mlflow's uvicorn workers are.
            return ["/bin/sh", "-c", f"sleep 600 & exec {sys.executable} -m http.server --bind 127.0.0.1 {self.port}"]

    server = Static(cwd=sys.argv[1]).start()
    print("PGID", server.pgid, flush=True)
    sys.exit(serve_forever([server], poll_s=0.1))
""")


def start_serving(tmp_path) -> tuple[subprocess.Popen, int, list[str]]:
    (tmp_path / "hello.txt").write_text("hello from the workbench")
    proc = subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT, str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Press Ctrl-C"):
            pgid = int(next(l for l in lines if l.startswith("PGID")).split()[1])
            return proc, pgid, lines
    proc.kill()
    pytest.fail("serve_forever never said it was serving:\n" + "\n".join(lines))


def test_serve_forever_prints_the_address_and_stops_everything_on_ctrl_c(tmp_path):
    proc, pgid, lines = start_serving(tmp_path)
    url = next(l for l in lines if l.startswith("static: ")).split(" ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url + "hello.txt", timeout=10) as response:
        assert response.read() == b"hello from the workbench"
    assert len(process_group_members(pgid)) == 2  # the server and its sleeping child

    logs_before = set(Path(tempfile.gettempdir()).glob("workbench-static-*.log"))
    proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground job
    assert proc.wait(timeout=30) == 0
    assert "stopping" in proc.stdout.read()
    assert process_group_members(pgid) == []
    # A clean stop removes the log; only this run's log can have gone from the list.
    assert len(logs_before - set(Path(tempfile.gettempdir()).glob("workbench-static-*.log"))) == 1


def test_serve_forever_returns_1_when_a_server_dies(tmp_path):
    proc, pgid, _ = start_serving(tmp_path)
    os.killpg(pgid, signal.SIGKILL)
    assert proc.wait(timeout=30) == 1
    output = proc.stdout.read()
    assert "static stopped unexpectedly" in output
    assert process_group_members(pgid) == []
    log = Path(re.search(r"its log \((\S+)\)", output).group(1))
    assert log.is_file(), "the log of a server that died must be kept"
    log.unlink()


class Stubborn(Server):
    """A server that ignores SIGTERM, so stop() has to escalate to SIGKILL."""

    name = "stubborn"

    def _argv(self):
        code = ("import signal, http.server as h; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                f"h.HTTPServer(('127.0.0.1', {self.port}), h.SimpleHTTPRequestHandler).serve_forever()")
        return [sys.executable, "-c", code]


def test_stop_kills_what_ignores_sigterm(tmp_path):
    with Stubborn(cwd=tmp_path).start() as server:
        server.wait_ready(30)
        pgid = server.pgid
        started = time.monotonic()
        server.stop(timeout=1)
        assert time.monotonic() - started < 10
        assert process_group_members(pgid) == []
        assert not server.running()
        server.stop()  # a second stop is harmless
    assert not server.log_path.exists()


def test_screenshots_take_the_screens_asked_for_with_a_suffix_for_their_state(tmp_path, capsys):
    """`workbench screenshots --only 04 --suffix unpublished` (the README's banner picture): the
    choice and the suffix are checked before any server starts."""
    from workbench.cli.app import SCREENS, chosen_screens, main

    assert chosen_screens(None) == list(SCREENS) and "03_tag_rounds.ipynb" in SCREENS
    assert chosen_screens(["04", "04_performance_overview", "07_initiative_board.ipynb"]) == [
        "04_performance_overview.ipynb", "07_initiative_board.ipynb"]
    assert main(["-w", str(tmp_path), "screenshots", "--only", "04", "09"]) == 2
    err = capsys.readouterr().err
    assert "--only: '09' is not a screen" in err and "04_performance_overview" in err
    assert main(["-w", str(tmp_path), "screenshots", "--only", "04", "--suffix", "../x"]) == 2
    assert "--suffix: '../x' cannot be part of a file name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before the workspace was opened
