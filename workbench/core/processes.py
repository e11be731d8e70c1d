"""Whether the process that left something behind (a RUNNING MLflow run, a temporary folder)
is still alive, so that a later open may clean it up without touching another kernel's work.

An owner is named by host, pid and the process's start time: a pid alone may have been reused
by an unrelated process since the owner was killed. The start time comes from /proc (Linux);
where there is none, the pid alone is compared.
"""
from __future__ import annotations

import json
import os
import socket


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count after its end.
    return stat[stat.rfind(")") + 2:].split()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def owner_token() -> str:
    """This process as a short JSON text: host, pid and start time."""
    pid = os.getpid()
    return json.dumps({"host": socket.gethostname(), "pid": pid, "start": _start_time(pid)}, sort_keys=True)


def owner_gone(token: str | None) -> bool | None:
    """True when the process ``token`` names is no longer running on this host, False while it
    is, None when we cannot tell (another host, or no token)."""
    try:
        owner = json.loads(token) if token else None
        pid = int(owner["pid"])
    except (TypeError, ValueError, KeyError):
        return None
    if owner.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        pass
    fields = _stat(pid)
    if fields and fields[0] in ("Z", "X"):  # killed, and not yet reaped by its parent
        return True
    start = owner.get("start")
    return start is not None and _start_time(pid) not in (None, start)  # the pid was reused


# A process we cannot ask (no owner recorded, or another host) is taken as gone after this long:
# no training or backfill runs for six hours.
UNOWNED_STALE_AFTER_S = 6 * 3600


def left_behind(token: str | None, started_s: float, now_s: float) -> bool:
    """Whether work its owner started at ``started_s`` (epoch seconds) was left behind: the
    owner is gone, or cannot be asked and the work is older than UNOWNED_STALE_AFTER_S."""
    gone = owner_gone(token)
    return gone if gone is not None else now_s - started_s > UNOWNED_STALE_AFTER_S
