"""The one shape every test-bed launcher follows.

A launcher starts a real server as a plain process on 127.0.0.1, on a free port, in a
temporary directory; waits until the server answers (never a fixed sleep); and stops it by
its own process id, also when the test failed or was interrupted.  ``ServerProcess`` is that
shape; each launcher module only says how to configure and probe its server.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"

#: Which Debian package provides a binary, for the message when it is missing.
DEBIAN_PACKAGES = {
    "initdb": "postgresql",
    "pg_ctl": "postgresql",
    "postgres": "postgresql",
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
    "redis-server": "redis-server",
    "nginx": "nginx",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "rabbitmq-server": "rabbitmq-server",
    "epmd": "erlang-base",
    "node": "nodejs",
    "npm": "npm",
    "nsd": "nsd",
    "ldns-keygen": "ldnsutils",
    "ldns-signzone": "ldnsutils",
    "rsyslogd": "rsyslog",
}

_EXTRA_PATHS = ("/usr/sbin", "/usr/local/sbin", "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


class LauncherError(RuntimeError):
    """A server of the test bed could not be started; the message says why and what to install."""


def find_binary(name: str) -> str:
    """Return the absolute path of ``name`` or raise naming the Debian package to install."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_PATHS))
    if found is None:
        package = DEBIAN_PACKAGES.get(name, name)
        raise LauncherError(
            f"{name} not found on PATH: install it with 'apt-get install -y {package}' "
            "(scripts/test does this on a fresh machine)"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class SilentListener:
    """A TCP port on 127.0.0.1 that accepts connections into its queue and never answers: the
    server that hangs.  ``accepted()`` drains the queue and says how many connections arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])

    def accepted(self) -> int:
        self.sock.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 30.0) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    wait_until(lambda: connectable(host, port), timeout, f"{host}:{port} to accept connections")


def connectable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(ready: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll ``ready`` until it returns true; fail with the server's log if the process died."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LauncherError(f"server exited with status {proc.returncode} while waiting for {what}{_tail(log)}")
        try:
            if ready():
                return
        except Exception:  # noqa: BLE001 - not ready yet, whatever the probe raised
            pass
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise LauncherError(f"timed out after {timeout:.0f}s waiting for {what}{_tail(log)}")


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- last lines of " + str(log) + " ---\n" + "\n".join(text)


def run(argv: Sequence[str], *, user: str | None = None, env: Mapping[str, str] | None = None, input: bytes | None = None, timeout: float = 120.0,
        cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a set-up command (initdb, ssh-keygen, ...) in ``cwd`` and raise with its output if it fails."""
    result = subprocess.run(
        list(argv), input=input, capture_output=True, timeout=timeout, cwd=cwd,
        env=_env(env), preexec_fn=_demote(user) if user else None, check=False,
    )
    if result.returncode != 0:
        raise LauncherError(
            f"{' '.join(argv)} failed with status {result.returncode}:\n"
            + result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
        )
    return result


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "") + os.pathsep + os.pathsep.join(_EXTRA_PATHS)
    if extra:
        env.update(extra)
    return env


def _demote(user: str) -> Callable[[], None]:
    record = pwd.getpwnam(user)

    def demote() -> None:
        os.setgid(record.pw_gid)
        os.initgroups(user, record.pw_gid)
        os.setuid(record.pw_uid)

    return demote


def unprivileged_user() -> str | None:
    """The account to run servers as that refuse root (PostgreSQL); None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise LauncherError("running as root and no 'postgres' or 'nobody' account exists to run servers as")


def make_tempdir(prefix: str, owner: str | None = None) -> Path:
    """A fresh temporary directory; chowned to ``owner`` when a server runs as another user."""
    path = Path(tempfile.mkdtemp(prefix=f"deploycheck-{prefix}-"))
    if owner is not None:
        record = pwd.getpwnam(owner)
        os.chown(path, record.pw_uid, record.pw_gid)
        path.chmod(0o700)
    return path


def chown_tree(path: Path, owner: str) -> None:
    record = pwd.getpwnam(owner)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, record.pw_uid, record.pw_gid)


@dataclass
class ServerProcess:
    """A server started by a launcher: its process, its directory, how to stop it.

    ``argv`` runs in the foreground (never daemonised), in its own session, so that ``stop``
    can signal exactly this process group by the pid we hold.
    """

    name: str
    argv: Sequence[str]
    workdir: Path
    log: Path
    user: str | None = None
    env: Mapping[str, str] | None = None
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    cleanup_paths: list[Path] = field(default_factory=list)

    def start(self, ready: Callable[[], bool], timeout: float = 60.0) -> ServerProcess:
        log = open(self.log, "ab")  # noqa: SIM115 - closed when the process is stopped
        try:
            self.proc = subprocess.Popen(
                list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, env=_env(self.env), start_new_session=True,
                preexec_fn=_demote(self.user) if self.user else None,
            )
        finally:
            log.close()
        try:
            wait_until(ready, timeout, f"{self.name} to become ready", self.proc, self.log)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its own pid (and its process group), then remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        # Children that outlived the leader (nginx workers, postgres backends) share its group.
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for path in [self.workdir, *self.cleanup_paths]:
            shutil.rmtree(path, ignore_errors=True)


def serve(instance: Instance) -> Iterator[Instance]:
    """The body of a session fixture: yield the instance, stop it whatever happened."""
    try:
        yield instance
    finally:
        instance.stop()


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """``with running(launch_x(...)) as srv:`` stops the server whatever happens inside."""
    try:
        yield server
    finally:
        server.stop()


def env_name(instance: str, what: str) -> str:
    """The environment variable an inventory uses for a generated secret: DC_PG_GOOD_PASSWORD."""
    return "DC_" + "".join(c if c.isalnum() else "_" for c in f"{instance}_{what}").upper()




@dataclass
class Instance:
    """What a launcher hands to tests: how to name it in an inventory, and how to stop it.

    ``entry`` is the inventory entry for this server (YAML-able), with every secret written as
    a ``${VAR}`` reference; ``env`` holds those variables' values.  ``admin`` carries what a test
    needs beyond the inventory (a superuser DSN to inspect the server, the CA file, ...).
    """

    name: str
    kind: str
    entry: dict[str, Any]
    env: dict[str, str]
    server: ServerProcess | None
    admin: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
