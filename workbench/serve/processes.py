"""A server's processes: its process group and every descendant, found through /proc.

Jupyter kernels are launched in sessions of their own (jupyter_client does that so a Ctrl-C
in a terminal does not interrupt them) and `mlflow server` forks uvicorn workers, so a plain
`killpg` would leave some behind: `ProcessGroup` remembers each descendant it sees, with its
start time (a later process may reuse the pid), and ends them too.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["ProcessGroup", "process_group_members"]


class _Proc(NamedTuple):
    ppid: int
    pgid: int
    state: str
    start: int  # clock ticks after boot: tells a process from a later one that reuses its pid


def _proc_table() -> dict[int, _Proc]:
    """Every process, read from /proc (Linux); empty where there is no /proc."""
    table: dict[int, _Proc] = {}
    if not os.path.isdir("/proc"):
        return table
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        # The command name is in parentheses and may itself hold spaces or parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry.name)] = _Proc(int(fields[1]), int(fields[2]), fields[0], int(fields[19]))
    return table


def process_group_members(pgid: int) -> list[int]:
    """Live processes in the process group `pgid` (zombies have exited: not counted)."""
    table = _proc_table()
    if not table:  # no /proc: ask the kernel whether the group still exists at all
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    return sorted(pid for pid, p in table.items() if p.pgid == pgid and p.state != "Z")


def _descendants(root: int, table: dict[int, _Proc]) -> dict[int, int]:
    """pid -> start time of every descendant of `root`."""
    children: dict[int, list[int]] = {}
    for pid, p in table.items():
        children.setdefault(p.ppid, []).append(pid)
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = table[child].start
                todo.append(child)
    return found


class ProcessGroup:
    """A child process started as the leader of a new session, and everything it spawns."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.argv = list(argv)
        self._log = open(log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                env=env, cwd=cwd, start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise
        self.pgid = self.proc.pid  # a session leader's group id is its pid
        # Descendants seen so far (pid -> start time): kernels leave our group, and once the
        # server exits they are re-parented to init, after which nothing links them to us.
        self._seen: dict[int, int] = {}
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _look(self) -> dict[int, _Proc]:
        table = _proc_table()
        if self.proc.poll() is None:
            self._seen.update(_descendants(self.pid, table))
        return table

    def poll(self) -> int | None:
        self._look()
        return self.proc.poll()

    def members(self) -> list[int]:
        """Every live process that belongs to this server: its group plus descendants we saw."""
        table = self._look()
        if not table:
            return [self.pid] if self.proc.poll() is None else []
        group = {pid for pid, p in table.items() if p.pgid == self.pgid and p.state != "Z"}
        seen = {pid for pid, start in self._seen.items()
                if pid in table and table[pid].start == start and table[pid].state != "Z"}
        return sorted(group | seen)

    def _signal_all(self, sig: int, pids: Iterable[int]) -> None:
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _wait_gone(self, deadline: float) -> list[int]:
        while True:
            self.proc.poll()  # reap the leader so it does not linger as a zombie
            left = self.members()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM first so Jupyter servers can shut their kernels down, SIGKILL what is left."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._look()
            # Only the group: kernels get the server's own shutdown request first, and a
            # second signal at the same moment only makes them log scary tracebacks.
            self._signal_all(signal.SIGTERM, [])
            left = self._wait_gone(time.monotonic() + timeout)
            if left:
                self._signal_all(signal.SIGTERM, left)
                left = self._wait_gone(time.monotonic() + min(timeout, 3.0))
            if left:
                self._signal_all(signal.SIGKILL, left)
                self._wait_gone(time.monotonic() + 5.0)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        finally:
            self._log.close()
