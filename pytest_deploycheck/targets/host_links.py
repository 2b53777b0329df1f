"""How a host is reached: the connection rules behind the ``host`` fixture (``hosts.py``).

One OpenSSH ControlMaster per host and run (``_ssh_extra_args``, ``_control_dir``), paramiko with
strict host keys (``_strict_paramiko_class``), and the rules that turn a backend's failure into the
run's memory: an SSH transport failure marks the host unreachable, a command that overruns ends only
its check (``_Rules``, ``_SshRules``, ``_guarded_class``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_deploycheck.outcomes import TargetError, TargetUnreachable
from pytest_deploycheck.targets.base import Target
from pytest_deploycheck.targets.reach import Reachability, first_line

#: A host command may run this long at least (a ``find`` over a large application directory,
#: ``apt-get -s``); longer timeouts scale it: ``command_timeout(target)``.
COMMAND_TIMEOUT_FLOOR = 30.0

#: How long an idle ControlMaster outlives its last command if the run could not close it.
CONTROL_PERSIST_S = 300

HOST_KEY_HINT = "pin the host key with ssh_known_hosts, or opt out with ssh_host_key_checking: false"

SSH_SCHEMES = ("ssh", "safe-ssh")


def command_timeout(target: Target) -> float:
    """Seconds one host command may take: six network timeouts, at least 30 s."""
    return max(COMMAND_TIMEOUT_FLOOR, 6 * target.timeout)


def scheme_of(target: Target) -> str:
    backend = str(target.spec["backend"])
    return backend.split("://", 1)[0] if "://" in backend else ""


class TransportFailure(Exception):
    """The connection to a host failed; the message is ready for the report."""


class CommandTimeout(TargetError):
    """A host command overran ``command_timeout``: this check ends as an error, the host stays usable."""

    __module__ = "builtins"


@dataclass
class _Link:
    """What a backend needs to apply the run's rules: the target, the reachability memory, limits."""

    target: Target
    reach: Reachability
    command_timeout: float
    unreachable: tuple[type[BaseException], ...] = ()
    control_dir: Path | None = None




def testinfra_kwargs(target: Target) -> dict[str, Any]:
    """testinfra backend options from the inventory; no secret ever goes on a command line."""
    spec = target.spec
    kwargs: dict[str, Any] = {}
    for key in ("ssh_identity_file", "ssh_config", "sudo", "sudo_user"):
        if spec.get(key) is not None:
            kwargs[key] = spec[key]
    scheme = scheme_of(target)
    if scheme in (*SSH_SCHEMES, "paramiko"):
        kwargs["timeout"] = max(1, round(target.timeout))
    if scheme == "paramiko":
        kwargs["known_hosts"] = spec.get("ssh_known_hosts")
        kwargs["host_key_checking"] = spec.get("ssh_host_key_checking") is not False
    return kwargs


def _ssh_extra_args(target: Target, control_dir: Path) -> str:
    """OpenSSH options: never prompt, bounded waits, strict host keys, one multiplexed connection."""
    timeout = max(1, round(target.timeout))
    spec = target.spec
    options = [
        "BatchMode=yes",
        f"ConnectTimeout={timeout}",  # also bounds the banner exchange
        f"ServerAliveInterval={timeout}",
        "ServerAliveCountMax=3",
        "LogLevel=ERROR",  # no "Warning: Permanently added ..." in every command's stderr
        "ControlMaster=auto",
        f"ControlPath={control_dir / 'mux'}",
        f"ControlPersist={CONTROL_PERSIST_S}s",
    ]
    if spec.get("ssh_host_key_checking") is False:
        options += ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"]
    else:
        options.append("StrictHostKeyChecking=yes")
        if spec.get("ssh_known_hosts"):
            options.append(f"UserKnownHostsFile={spec['ssh_known_hosts']}")
    if spec.get("ssh_identity_file"):
        options.append("IdentitiesOnly=yes")  # agent keys first would spend MaxAuthTries
    return " ".join(f"-o {shlex.quote(option)}" for option in options)


def _control_dir() -> Path:
    """A private directory for the ControlMaster socket; short, as a socket path must be."""
    base = tempfile.gettempdir()
    if len(base) > 40:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="dc-ssh-", dir=base))


def _guarded_class(connection: str) -> type[Any]:
    """testinfra's backend class for ``connection`` with the run's rules mixed in.

    Built per host, not cached: a cached class would outlive a re-import of testinfra or
    paramiko (pytester's in-process runs do that) and mix two generations of their classes.
    """
    import testinfra.backend

    if connection == "paramiko":
        base: type[Any] = _strict_paramiko_class()
    else:
        base = testinfra.backend.get_backend_class(connection)
    mixin: type[Any] = _SshRules if connection in SSH_SCHEMES else _Rules
    return type(f"Deploycheck{base.__name__}", (mixin, base), {})


class _Rules:
    """Mixed in front of a testinfra backend class: reachability, bounded commands, ``sudo -n``."""

    _dc: _Link

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        link = self._dc
        link.reach.raise_if_failed(link.target)
        try:
            with link.reach.guard(link.target, unreachable=link.unreachable):
                return super().run(command, *args, **kwargs)  # type: ignore[misc]
        except TransportFailure as exc:
            link.reach.mark(link.target, str(exc))
            raise TargetUnreachable(f"{link.target.label}: {exc}") from None

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        quote = self.quote  # type: ignore[attr-defined]
        if sudo_user is None:
            return quote("sudo -n /bin/sh -c %s", command)  # type: ignore[no-any-return]
        return quote("sudo -n -u %s /bin/sh -c %s", sudo_user, command)  # type: ignore[no-any-return]

    def run_local(self, command: str, *args: str) -> Any:
        """testinfra's ``run_local`` with a deadline; the process group is killed on overrun."""
        command = self.quote(command, *args)  # type: ignore[attr-defined]
        cmd = self.encode(command)  # type: ignore[attr-defined]
        proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=self._dc.command_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise CommandTimeout(f"{self._dc.target.label}: command did not finish within {self._dc.command_timeout:g}s: "
                                 f"{_summary(command)}") from None
        return self.result(proc.returncode, cmd, stdout, stderr)  # type: ignore[attr-defined]


class _SshRules(_Rules):
    """ssh:// and safe-ssh://: exit status 255 is ssh's own failure; one ControlMaster per host."""

    def run_ssh(self, command: str) -> Any:
        cmd, cmd_args = self._build_ssh_command(command)  # type: ignore[attr-defined]
        out = self.run_local(" ".join(cmd), *cmd_args)
        out.command = self.encode(command)  # type: ignore[attr-defined]
        if out.rc == 255:
            raise TransportFailure(ssh_failure(out.stderr))
        return out

    def deploycheck_close(self) -> None:
        """Ask the ControlMaster to exit and remove its directory."""
        control_dir = self._dc.control_dir
        if control_dir is None:
            return
        socket_path = control_dir / "mux"
        if socket_path.exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={socket_path}", "-O", "exit", "deploycheck-mux"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)
        shutil.rmtree(control_dir, ignore_errors=True)
        self._dc.control_dir = None


def ssh_failure(stderr: str) -> str:
    """One line for the report from ssh's stderr when it exited 255."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip() and not line.startswith("Warning:")]
    text = " ".join(lines)
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        detail = next((line for line in lines if "host key" in line.lower() and "verification failed" not in line.lower()), "")
        detail = f" ({detail.rstrip('.')})" if detail else ""
        return f"ssh: host key verification failed{detail}; {HOST_KEY_HINT}"
    return f"ssh: {lines[-1]}" if lines else "ssh: exited 255 without a message"


def _summary(command: str, limit: int = 120) -> str:
    text = " ".join(command.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strict_paramiko_class() -> type[Any]:
    """testinfra's paramiko backend, made strict about host keys and bounded in time.

    testinfra's own backend never reads a known_hosts file and accepts any key with a warning.
    This one loads the pinned file (``ssh_known_hosts``) or the user's known hosts and rejects
    an unknown key, unless the inventory opts out; connect, banner, authentication and channel
    opening all use the target's timeout; a command is read with a deadline.
    """
    import paramiko
    from testinfra.backend.paramiko import IgnorePolicy, ParamikoBackend

    class StrictParamikoBackend(ParamikoBackend):  # type: ignore[misc]
        _dc: _Link

        def __init__(self, hostspec: str, *args: Any, known_hosts: str | None = None, host_key_checking: bool = True,
                     **kwargs: Any) -> None:
            super().__init__(hostspec, *args, **kwargs)
            self.known_hosts = known_hosts
            self.host_key_checking = host_key_checking

        @functools.cached_property
        def client(self) -> paramiko.SSHClient:
            client = paramiko.SSHClient()
            if self.host_key_checking:
                if self.known_hosts:
                    client.load_host_keys(self.known_hosts)
                else:
                    client.load_system_host_keys()
                    with contextlib.suppress(OSError):
                        client.load_system_host_keys("/etc/ssh/ssh_known_hosts")
            cfg: dict[str, Any] = {
                "hostname": self.host.name, "port": int(self.host.port) if self.host.port else 22,
                "username": self.host.user, "password": self.host.password,
                "timeout": self.timeout, "banner_timeout": self.timeout, "auth_timeout": self.timeout,
                "channel_timeout": self.timeout,
            }
            config_path = self.ssh_config or os.path.expanduser("~/.ssh/config")
            if os.path.exists(config_path):
                ssh_config = paramiko.SSHConfig.from_path(config_path)
                self._load_ssh_config(client, cfg, ssh_config, os.path.dirname(config_path))
            # The inventory decides, whatever an ssh_config says about StrictHostKeyChecking.
            client.set_missing_host_key_policy(paramiko.RejectPolicy() if self.host_key_checking else IgnorePolicy())
            if self.ssh_identity_file:
                cfg.update(key_filename=self.ssh_identity_file, look_for_keys=False, allow_agent=False)
            where = f"{cfg['hostname']}:{cfg['port']}"
            try:
                client.connect(**cfg)
            except paramiko.BadHostKeyException as exc:
                client.close()
                raise TransportFailure(f"paramiko: the {exc.key.get_name()} host key of {where} does not match the pinned key; "
                                       f"{HOST_KEY_HINT}") from None
            except paramiko.AuthenticationException as exc:
                client.close()
                raise TransportFailure(f"paramiko: authentication refused by {where}: {first_line(exc)}") from None
            except paramiko.SSHException as exc:
                # A failure in the transport thread (no banner, a reset) is kept by the transport, or
                # surfaces as "No existing session" when the negotiation outlived ``timeout``.
                transport = client.get_transport()
                cause = getattr(transport, "saved_exception", None) or exc
                client.close()
                if "not found in known_hosts" in str(cause):
                    raise TransportFailure(f"paramiko: unknown host key ({first_line(cause)}); {HOST_KEY_HINT}") from None
                if str(cause) == "No existing session":
                    raise TransportFailure(f"paramiko: no SSH banner or key exchange from {where} within {self.timeout}s") from None
                raise TransportFailure(f"paramiko: {first_line(cause)}") from None
            except BaseException:
                client.close()
                raise
            return client

        def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
            transport = self.client.get_transport()
            assert transport is not None
            chan = transport.open_session(timeout=self.timeout)
            try:
                if self.get_pty:
                    chan.get_pty()
                chan.exec_command(command)
                return _drain(chan, self._dc)
            finally:
                chan.close()

        def deploycheck_close(self) -> None:
            if "client" in self.__dict__:
                with contextlib.suppress(Exception):
                    self.__dict__.pop("client").close()

    return StrictParamikoBackend


def _drain(chan: Any, link: _Link) -> tuple[int, bytes, bytes]:
    """Read stdout and stderr together (one full pipe cannot block the other) until exit or deadline."""
    deadline = time.monotonic() + link.command_timeout
    out: list[bytes] = []
    err: list[bytes] = []
    pause = 0.001
    while True:
        progressed = False
        while chan.recv_ready():
            out.append(chan.recv(65536))
            progressed = True
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(65536))
            progressed = True
        # The exit status follows the command's output on the channel, so nothing is left behind.
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        if time.monotonic() > deadline:
            raise CommandTimeout(f"{link.target.label}: command did not finish within {link.command_timeout:g}s")
        if progressed:
            pause = 0.001
        else:
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
    rc = chan.recv_exit_status()
    if rc == -1 and not chan.get_transport().is_active():
        raise TransportFailure("paramiko: the connection was lost during a command")
    return rc, b"".join(out), b"".join(err)
