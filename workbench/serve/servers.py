"""Start and stop the workbench's web UIs: Voila dashboards, JupyterLab and the MLflow UI.

Every server listens on 127.0.0.1 only and runs in a process group of its own, so that
`Server.stop()` takes down everything it started: `mlflow server` forks uvicorn workers,
and Jupyter kernels are launched in sessions of their own (jupyter_client does that so a
Ctrl-C in a terminal does not interrupt them), which a plain `killpg` would leave behind.
`stop()` therefore also remembers the server's descendants and ends them too.

    with start_voila(Path("notebooks"), Path("~/ws").expanduser()) as server:
        print(server.urls)

The CLI commands `workbench dashboards`, `workbench lab` and `workbench mlflow` are
`serve_forever([start_...(...)])`.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from workbench.core.errors import WorkbenchError
from workbench.core.settings import ENV_WORKSPACE, NO_TELEMETRY_ENVIRONMENT
from workbench.registry.relocation import relocate
from workbench.serve.processes import ProcessGroup

__all__ = [
    "Server",
    "ServerError",
    "VoilaServer",
    "LabServer",
    "MlflowUIServer",
    "start_voila",
    "start_lab",
    "start_mlflow_ui",
    "serve_forever",
    "free_port",
]

HOST = "127.0.0.1"
DEFAULT_READY_TIMEOUT = 90.0

# The machines this runs on may have no route to the internet: turn off everything
# that would phone home and then stall or log errors while waiting for it.
_QUIET_ENV = {
    **NO_TELEMETRY_ENVIRONMENT,
    # jupyter_core warns on every start until this is set; the new behaviour is what we want.
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYTHONUNBUFFERED": "1",
}


class ServerError(WorkbenchError, RuntimeError):
    """A server did not come up; the message carries the tail of its log, and `log_path`
    names the whole log (kept for the post-mortem; delete it when done)."""

    def __init__(self, message: str, *, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the OS picks it). Another process may take it
    before the server binds it; `Server.start` retries with a new one when that happens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- servers

class Server:
    """One web server on 127.0.0.1 in a process group of its own.

    `url` is where a person starts (with the token, where there is one); `urls` lists the
    pages it serves (one per notebook for Voila). Use as a context manager, or call
    `stop()`. Subclasses say how to start the server (`_argv`) and where to find out it is
    up (`_ready_path`).
    """

    name = "server"
    _ready_path = "/"

    def __init__(self, *, port: int | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None, log_path: Path | None = None) -> None:
        self._fixed_port = port
        self.port = port or 0
        self._extra_env = dict(env or {})
        self.cwd = Path(cwd) if cwd else Path.cwd()
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"workbench-{self.name}-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = Path(log_path)
        self._group: ProcessGroup | None = None
        self._cleanup: list[Path] = []

    # -- what subclasses provide
    def _argv(self) -> list[str]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + "/"

    @property
    def urls(self) -> list[str]:
        return [self.url]

    # -- lifecycle
    @property
    def pid(self) -> int | None:
        return self._group.pid if self._group else None

    @property
    def pgid(self) -> int | None:
        return self._group.pgid if self._group else None

    @property
    def argv(self) -> list[str]:
        return list(self._group.argv) if self._group else self._argv()

    def running(self) -> bool:
        return self._group is not None and self._group.poll() is None

    def members(self) -> list[int]:
        """Live processes this server owns (its process group and descendants)."""
        return self._group.members() if self._group else []

    def start(self) -> "Server":
        if self._group is not None:
            raise ServerError(f"{self.name} is already started (pid {self._group.pid})")
        if not self.port:
            self.port = free_port()
        env = {**os.environ, **_QUIET_ENV, **self._extra_env}
        self._group = ProcessGroup(self._argv(), env=env, cwd=self.cwd, log_path=self.log_path)
        return self

    def wait_ready(self, timeout: float = DEFAULT_READY_TIMEOUT) -> "Server":
        """Poll the HTTP port until the server answers. Raises `ServerError` with the tail of
        the server's log if it exits first or does not answer within `timeout` seconds. When
        we picked the port and another process took it first, starts again on a new one."""
        for attempt in range(3):
            try:
                return self._wait_ready_once(timeout)
            except ServerError:
                if self._fixed_port or attempt == 2 or not self._port_was_taken():
                    raise
                self._group.stop(timeout=5)
                self._group = None
                self.port = 0
                self.log_path.write_bytes(b"")  # or the old "in use" would read as this run's
                self.start()
        raise AssertionError("unreachable")

    def _port_was_taken(self) -> bool:
        tail = self.log_tail(60).lower()
        return "address already in use" in tail or "errno 98" in tail

    def _wait_ready_once(self, timeout: float) -> "Server":
        if self._group is None:
            raise ServerError(f"{self.name} was never started")
        probe = self.base_url + self._ready_path
        deadline = time.monotonic() + timeout
        while True:
            code = self._group.poll()
            if code is not None:
                raise ServerError(
                    f"{self.name} exited with status {code} before it answered on {self.base_url}\n"
                    f"command: {' '.join(self._group.argv)}\n--- last lines of its log ({self.log_path}) ---\n"
                    f"{self.log_tail()}", log_path=self.log_path)
            try:
                with urllib.request.urlopen(probe, timeout=2) as response:
                    if response.status < 500:
                        return self
            except urllib.error.HTTPError as exc:
                # 4xx means the HTTP stack is up; a page that wants a login is still a page.
                if exc.code < 500:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.name} did not answer on {probe} within {timeout:.0f} s\n"
                    f"--- last lines of its log ({self.log_path}) ---\n{self.log_tail()}",
                    log_path=self.log_path)
            time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and everything it started; waits until they are gone. Idempotent."""
        if self._group is not None:
            self._group.stop(timeout=timeout)
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self._cleanup.clear()

    def remove_log(self) -> None:
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.remove_log()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped" if self._group else "not started"
        return f"<{type(self).__name__} {self.url} {state}>"


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*.ipynb")
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class VoilaServer(Server):
    """Voila on a folder of notebooks. Code cells stay hidden (Voila's strip_sources), a
    viewer cannot switch to another template through the query string, and every page and
    kernel needs the login token: `urls` carry it, and a client without it is refused (the
    dashboards show transcripts, and their widgets can create trackers)."""

    name = "voila"

    def __init__(self, root: Path, notebooks: Sequence[Path], workspace: Path, *,
                 port: int | None = None, show_tracebacks: bool = False, token: str | None = None,
                 **kwargs) -> None:
        self.token = token or secrets.token_hex(24)
        # By environment, not argv (see LabServer); Voila's identity provider reads JUPYTER_TOKEN
        # when auto_token is on and no token is configured.
        env = {ENV_WORKSPACE: str(Path(workspace).resolve()), "JUPYTER_TOKEN": self.token}
        super().__init__(port=port, env=env, cwd=root, **kwargs)
        self.root = Path(root)
        self.notebooks = [Path(nb) for nb in notebooks]
        self.show_tracebacks = show_tracebacks

    def _argv(self) -> list[str]:
        return [
            sys.executable, "-m", "voila", str(self.root),
            "--no-browser",
            f"--Voila.ip={HOST}",
            f"--Voila.port={self.port}",
            "--Voila.port_retries=0",
            "--VoilaConfiguration.strip_sources=True",
            f"--VoilaConfiguration.show_tracebacks={self.show_tracebacks}",
            "--VoilaConfiguration.allow_template_override=NO",
            "--Voila.auto_token=True",
        ]

    @property
    def url(self) -> str:
        return f"{self.base_url}/?token={self.token}"

    @property
    def urls(self) -> list[str]:
        return [f"{self.base_url}/voila/render/{quote(nb.as_posix())}?token={self.token}" for nb in self.notebooks]


class LabServer(Server):
    """JupyterLab on the notebooks folder; `url` carries the login token."""

    name = "jupyterlab"
    _ready_path = "/api"

    def __init__(self, notebook_dir: Path, workspace: Path, *, port: int | None = None,
                 open_browser: bool = False, token: str | None = None, **kwargs) -> None:
        self.token = token or secrets.token_hex(24)
        # The token goes by environment, not argv, where `ps` would show it to every user.
        env = {ENV_WORKSPACE: str(Path(workspace).resolve()), "JUPYTER_TOKEN": self.token}
        super().__init__(port=port, env=env, cwd=notebook_dir, **kwargs)
        self.notebook_dir = Path(notebook_dir)
        self.open_browser = open_browser

    def _argv(self) -> list[str]:
        # Jupyter refuses to start as root unless told; containers (and the project's CI)
        # commonly are root, and the server binds 127.0.0.1 with a token either way.
        as_root = ["--ServerApp.allow_root=True"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        return [
            sys.executable, "-m", "jupyterlab", *as_root,
            f"--ServerApp.root_dir={self.notebook_dir}",
            f"--ServerApp.ip={HOST}",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.open_browser={self.open_browser}",
            # Both would try to reach the internet, which these machines may not have.
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=None",
        ]

    @property
    def url(self) -> str:
        return f"{self.base_url}/lab?token={self.token}"


class MlflowUIServer(Server):
    """The MLflow tracking server and UI on a workspace's `mlruns/` folder."""

    name = "mlflow"
    _ready_path = "/health"

    def __init__(self, mlruns_dir: Path, *, port: int | None = None, **kwargs) -> None:
        self.mlruns_dir = Path(mlruns_dir).resolve()
        # The job runner serves GenAI features (trace scoring, scheduled rollups) the
        # workbench does not use; off, the server starts faster and forks three fewer processes.
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        super().__init__(port=port, env=env, cwd=self.mlruns_dir, **kwargs)

    @property
    def backend_store_uri(self) -> str:
        return f"sqlite:///{self.mlruns_dir / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.mlruns_dir / "artifacts"

    def start(self) -> "Server":
        # A fresh workspace has no mlruns/ yet; the UI on an empty store is still useful.
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        # A copied or moved workspace's store still names its original folder; the UI's artifact
        # links and downloads must show this folder's files.
        relocate(self.mlruns_dir)
        return super().start()

    def _argv(self) -> list[str]:
        return [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.backend_store_uri,
            # Runs logged by the workbench keep their artifacts here; runs created through
            # the server (mlflow-artifacts:/ URIs) are proxied to the same folder.
            "--default-artifact-root", str(self.artifacts_dir),
            "--artifacts-destination", str(self.artifacts_dir),
            "--host", HOST,
            "--port", str(self.port),
            "--workers", "1",
            # mlflow 3 checks the Host header against localhost and private addresses by
            # default, which admits 127.0.0.1; naming our own address keeps it that narrow.
            "--allowed-hosts", f"{HOST}:{self.port},localhost:{self.port}",
        ]


# ---------------------------------------------------------------- entry points

def _start(server: Server, wait: bool, timeout: float) -> Server:
    server.start()
    if wait:
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
    return server


def start_voila(notebooks: Sequence[Path] | Path, workspace: Path, *, port: int | None = None,
                show_tracebacks: bool = False, wait: bool = True,
                timeout: float = DEFAULT_READY_TIMEOUT) -> VoilaServer:
    """Serve notebooks as dashboards with Voila; the kernels see WORKBENCH_WORKSPACE=workspace.

    `notebooks` is a folder (every notebook in it is served, kernels run in the notebook's
    own folder) or a list of notebooks. For a list, only those notebooks are reachable:
    Voila serves a folder of links to them, so their kernels run in that folder, not next to
    the notebook; notebooks find their data through WORKBENCH_WORKSPACE, not relative paths.
    """
    workspace = Path(workspace)
    if not workspace.is_dir():
        raise ServerError(f"workspace {workspace} is not a folder; create it with `workbench demo` or `workbench import`")
    if isinstance(notebooks, (str, os.PathLike)) and Path(notebooks).is_dir():
        root = Path(notebooks).resolve()
        rel = [p.relative_to(root) for p in _notebooks_in(root)]
        cleanup: list[Path] = []
    else:
        paths = [Path(notebooks)] if isinstance(notebooks, (str, os.PathLike)) else [Path(p) for p in notebooks]
        if not paths:
            raise ServerError("no notebooks to serve")
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ServerError(f"notebook not found: {', '.join(missing)}")
        names = [p.name for p in paths]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise ServerError(f"two notebooks share the name {', '.join(clashes)}; Voila would serve only one")
        root = Path(tempfile.mkdtemp(prefix="workbench-voila-"))
        for path in paths:
            (root / path.name).symlink_to(path.resolve())
        rel = [Path(n) for n in names]
        cleanup = [root]
    server = VoilaServer(root, rel, workspace, port=port, show_tracebacks=show_tracebacks)
    server._cleanup.extend(cleanup)
    return _start(server, wait, timeout)


def start_lab(notebook_dir: Path, workspace: Path, *, port: int | None = None, open_browser: bool = False,
              wait: bool = True, timeout: float = DEFAULT_READY_TIMEOUT) -> LabServer:
    """JupyterLab on `notebook_dir`, kernels seeing WORKBENCH_WORKSPACE=workspace; `.url` has the token."""
    notebook_dir = Path(notebook_dir).resolve()
    if not notebook_dir.is_dir():
        raise ServerError(f"notebook folder {notebook_dir} does not exist")
    return _start(LabServer(notebook_dir, workspace, port=port, open_browser=open_browser), wait, timeout)


def start_mlflow_ui(mlruns_dir: Path, *, port: int | None = None, wait: bool = True,
                    timeout: float = DEFAULT_READY_TIMEOUT) -> MlflowUIServer:
    """The MLflow UI on `<mlruns_dir>/mlflow.db` with artifacts in `<mlruns_dir>/artifacts`."""
    return _start(MlflowUIServer(mlruns_dir, port=port), wait, timeout)


def serve_forever(servers: Sequence[Server] | Server, *, out=None, poll_s: float = 1.0) -> int:
    """Print where each server is, block until Ctrl-C (or SIGTERM, or a server dies), stop all.

    Servers not started yet are started here, all at once so their start-up overlaps.
    Returns 0 after Ctrl-C/SIGTERM, 1 when a server did not come up or exited on its own
    (its log tail is printed). The servers run in sessions of their own, so a Ctrl-C in the
    terminal reaches only us, and we stop them in order instead of having them die mid-write.
    """
    out = out or sys.stdout
    servers = [servers] if isinstance(servers, Server) else list(servers)
    main_thread = threading.current_thread() is threading.main_thread()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term) if main_thread else None
    status = 1
    try:
        for server in servers:
            if server.pid is None:
                server.start()
        for server in servers:
            server.wait_ready()
        for server in servers:
            print(f"{server.name}: {server.url}", file=out)
            for page in server.urls:
                if page != server.url:
                    print(f"  {page}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        while True:
            for server in servers:
                if not server.running():
                    print(f"{server.name} stopped unexpectedly; the last lines of its log "
                          f"({server.log_path}):\n{server.log_tail()}", file=out, flush=True)
                    return 1
            time.sleep(poll_s)
    except ServerError as exc:
        print(f"error: {exc}", file=out, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", file=out, flush=True)
        status = 0
        return status
    finally:
        # A second Ctrl-C while we stop would orphan kernels and workers; stop() is bounded
        # (about 20 s at worst) so ignoring it for that long is the lesser evil.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            for server in servers:
                server.stop()
                if status == 0:  # after a failure the log is the evidence; keep it
                    server.remove_log()
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous_int)
                signal.signal(signal.SIGTERM, previous)
