"""The ``hosts`` kind and its ``host`` fixture: an inventory host reached through pytest-testinfra.

The fixture is registered only when an inventory is given, after every entry-point
plugin, so it deliberately replaces testinfra's own ``host`` fixture for that run (testinfra's
``--hosts`` then has no effect on catalog checks).  Without an inventory, testinfra's ``host``
works as usual for a project's own tests.

Every ``hosts`` backend testinfra offers works (``local://``, ``ssh://``, ``safe-ssh://``,
``paramiko://``, ``docker://``, ``kubectl://``, ``ansible://``, ...), with these rules on top:

* **Work a machine answers once is done once.**  ``host.memo`` keeps facts per *machine* and
  account, not per inventory entry: two entries that reach the same machine (``/etc/machine-id``,
  boot id and host name, read with one command per host) as the same user share the package
  simulation, the listening sockets and every other memoized fact.  Facts about the SSH server
  (keys starting ``sshd``) are kept per sshd listener, since two sshd on one machine differ.
* **One connection per host and run.**  ``ssh://`` and ``safe-ssh://`` share one OpenSSH
  ControlMaster whose socket lives in a private temporary directory of the run (closed with
  ``ssh -O exit`` and removed at the end); ``paramiko://`` keeps one ``SSHClient`` and opens a
  channel per command.  A host's fifty checks cost one SSH handshake, not fifty.
* **Host keys are verified.**  An unknown or changed host key fails the host, for ``ssh://`` and
  ``paramiko://`` alike, unless the inventory pins it (``ssh_known_hosts``) or opts out
  (``ssh_host_key_checking: false``).  Without either, the user's known_hosts decide.
* **A dead host costs one timeout.**  ssh's exit status 255 (its own failure: refused, timed out,
  host key, authentication) and paramiko's connection errors mark the host unreachable, so every
  later check on it ends at once as an error.  ssh(1) cannot tell its own failure from a remote
  command that exits 255; the catalog's commands never do.
* **Nothing waits for ever, nothing prompts.**  ssh runs with ``BatchMode=yes``; ``sudo: true``
  runs ``sudo -n`` (fails instead of asking for a password); each command is bounded by
  ``command_timeout(target)`` and a command that overruns ends its check as an error.
* **No secret on a command line.**  The inventory refuses passwords in ``ssh://`` URLs (testinfra
  would hand them to ``sshpass -p``); ``paramiko://user:password@host`` keeps the password in
  process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pytest_deploycheck.outcomes import NotApplicable, TargetError, TargetUnreachable
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

T = TypeVar("T")

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


class HostTarget(TargetHandle):
    """A testinfra ``Host`` with the inventory record beside it.

    ``host.run(cmd)`` and every testinfra module (``host.file(...)``, ``host.service(...)``,
    ``host.package(...)``) go through the same backend, which applies the reachability rule:
    an SSH transport failure marks the host unreachable, so its other checks end at once.
    ``host.memo(key, compute)`` runs ``compute`` once per host and run (the effective sshd
    configuration, the listening sockets) and hands every later check the same answer, or
    the same not-applicable / error.
    """

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._host: Any = None
        self._lock = threading.RLock()
        self._memo: dict[str, tuple[bool, Any]] = {}
        self._machine: MachineIdentity | None = None

    @property
    def testinfra(self) -> Any:
        """The ``testinfra.host.Host`` (built on first use: nothing connects before a command runs)."""
        with self._lock:
            if self._host is None:
                self.reach.raise_if_failed(self.target)
                try:
                    host = build_host(self.target, self.reach)
                    prove_alive(host, self.target)
                except TransportFailure as exc:
                    self.reach.mark(self.target, str(exc))
                    raise TargetUnreachable(f"{self.target.label}: {exc}") from None
                self._host = host
            return self._host

    def run(self, command: str, *args: str) -> Any:
        """Run ``command`` (``%s`` placeholders filled with shell-quoted ``args``); a testinfra
        ``CommandResult`` with ``rc``, ``stdout``, ``stderr``."""
        self.reach.raise_if_failed(self.target)
        return self.testinfra.run(command, *args)

    def memo(self, key: str, compute: Callable[[], T], *, scope: str | None = None) -> T:
        """``compute()`` once per machine and run; later calls get the same value or outcome.

        A value is shared by every inventory entry that reaches the same machine as the same
        account (``machine()``); ``scope="connection"`` (the default for keys starting with
        ``sshd``) narrows it to entries reaching the same SSH server with the same ``sshd_config``
        setting, ``scope="host"`` to this entry.  A not-applicable or error outcome is kept for
        this entry only: its message names it.
        """
        scope = scope or ("connection" if key.startswith(CONNECTION_SCOPED) else "machine")
        shared = self._shared_store(scope) if scope != "host" else None  # the machine() command runs here, once per entry
        with self._lock:
            if key in self._memo:
                return self._replay(self._memo[key])  # type: ignore[no-any-return]
        if shared is not None:
            store, lock = shared
            with lock:
                if key not in store:
                    outcome = self._compute(compute)
                    if not outcome[0]:
                        with self._lock:
                            self._memo[key] = outcome
                        return self._replay(outcome)  # type: ignore[no-any-return]
                    store[key] = outcome
                return self._replay(store[key])  # type: ignore[no-any-return]
        with self._lock:
            if key not in self._memo:
                self._memo[key] = self._compute(compute)
            return self._replay(self._memo[key])  # type: ignore[no-any-return]

    @staticmethod
    def _compute(compute: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, compute()
        except TargetUnreachable:
            raise  # a dead host is remembered by Reachability
        except (NotApplicable, TargetError) as exc:
            return False, (type(exc), str(getattr(exc, "msg", exc)))

    @staticmethod
    def _replay(outcome: tuple[bool, Any]) -> Any:
        ok, value = outcome
        if not ok:
            kind, message = value
            raise kind(message)
        return value

    def machine(self) -> MachineIdentity:
        """Which machine and account this entry's commands run on (one command, once per entry)."""
        with self._lock:
            if self._machine is None:
                try:
                    self._machine = read_identity(self)
                except (NotApplicable, TargetError) as exc:
                    if isinstance(exc, TargetUnreachable):
                        raise
                    # Could not tell (no POSIX shell): this entry's facts stay its own, asked once.
                    self._machine = MachineIdentity(key=f"entry {self.target.kind}.{self.target.name}", connection="")
            return self._machine

    def _shared_store(self, scope: str) -> tuple[dict[str, tuple[bool, Any]], threading.RLock]:
        identity = self.machine()
        name = identity.key
        if scope == "connection":
            # The SSH server's facts depend on which sshd accepted the login and on the file the
            # inventory names (``sshd_config``), not on the machine alone.
            name += f"|sshd {identity.connection}|config {self.target.get('sshd_config') or ''}"
        registry = self.reach.shared("hosts.machines")
        with _REGISTRY_LOCK:
            if name not in registry:
                registry[name] = ({}, threading.RLock())
            return registry[name]  # type: ignore[no-any-return]

    def warm(self) -> None:
        """Connect and read the machine identity now: the start-of-run prefetch (``preflight.py``)
        does this for every host at once, so the logins overlap instead of waiting in turn."""
        self.testinfra  # noqa: B018 - the property connects
        self.machine()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self.reach.raise_if_failed(self.target)
        return getattr(self.testinfra, name)

    def close(self) -> None:
        host = self._host
        if host is not None:
            closer = getattr(host.backend, "deploycheck_close", None)
            if closer is not None:
                closer()


#: Memo keys whose answer depends on which SSH server accepted the connection, not only on the
#: machine: two sshd on one machine (ports 22 and 2222) have different configurations.
CONNECTION_SCOPED = ("sshd",)

_REGISTRY_LOCK = threading.Lock()

#: One command: what identifies the machine, the account commands run as, and the sshd endpoint.
IDENTITY_SCRIPT = (
    'printf "machine\\t%s\\n" "$(cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id 2>/dev/null)"; '
    'printf "boot\\t%s\\n" "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"; '
    'printf "name\\t%s\\n" "$(uname -n 2>/dev/null)"; '
    'printf "uid\\t%s\\n" "$(id -u 2>/dev/null)"; '
    'printf "ssh\\t%s\\n" "$SSH_CONNECTION"'
)


@dataclass(frozen=True)
class MachineIdentity:
    """``key``: the machine and account (``machine-id/boot-id/hostname uid=0``, or the backend URL
    when the machine has no id to read); ``connection``: the sshd address and port that accepted
    the login ("" when not over SSH)."""

    key: str
    connection: str


def parse_identity(text: str, backend: str) -> MachineIdentity:
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition("\t")
        if sep:
            fields[name.strip()] = value.strip()
    uid = fields.get("uid", "")
    machine_id, boot_id = fields.get("machine", ""), fields.get("boot", "")
    if machine_id or boot_id:
        where = f"{machine_id}/{boot_id}/{fields.get('name', '')}"
    else:
        where = f"backend {re.sub(r'://[^@/]*@', '://', backend)}"  # the address without the login
    ssh = fields.get("ssh", "").split()
    return MachineIdentity(key=f"{where} uid={uid}", connection=" ".join(ssh[2:4]) if len(ssh) == 4 else "")


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "ip6-localhost")


def machine_hint(target: Target) -> str:
    """A guess, without connecting, at which machine an entry reaches: ``local`` for local:// and
    SSH to a loopback address, else the host name of the backend URL.  The xdist scheduler keeps
    entries with one hint on one worker (``distribution.py``), so they share the machine's facts;
    a wrong guess costs only that sharing, never a wrong answer (``machine()`` decides that)."""
    backend = str(target.spec.get("backend", ""))
    scheme = scheme_of(target) or "local"
    if scheme == "local":
        return "local"
    host = urllib.parse.urlsplit(backend).hostname if "://" in backend else None
    if scheme in (*SSH_SCHEMES, "paramiko") and host:
        return "local" if host.lower() in _LOOPBACK_NAMES or host.startswith("127.") else host.lower()
    return f"{scheme}://{host or backend}"


def read_identity(host: HostTarget) -> MachineIdentity:
    result = host.run("sh -c %s", IDENTITY_SCRIPT)
    if result.rc != 0:
        raise TargetError(f"{host.label}: cannot read the machine identity (exit status {result.rc})")
    return parse_identity(result.stdout or "", str(host.target.spec["backend"]))


# --------------------------------------------------------------------------- backends


def build_host(target: Target, reach: Reachability) -> Any:
    """A ``testinfra.host.Host`` for ``target`` on a guarded backend.

    Built directly rather than through ``testinfra.get_host``, whose process-wide cache would
    hand a later run (or another inventory) this run's connection.
    """
    import testinfra.backend
    import testinfra.host

    spec = str(target.spec["backend"])
    hostname, kwargs = testinfra.backend.parse_hostspec(spec)
    connection = kwargs.get("connection") or "local"
    if connection in SSH_SCHEMES and shutil.which("ssh") is None:
        raise TransportFailure("the ssh client is not installed on this machine (apt-get install openssh-client)")
    if connection == "paramiko":
        try:
            import paramiko
        except ImportError:
            raise TransportFailure("paramiko:// needs paramiko: pip install 'pytest-deploycheck[paramiko]'") from None
    for key, value in testinfra_kwargs(target).items():
        kwargs.setdefault(key, value)
    kwargs.pop("connection", None)
    link = _Link(target=target, reach=reach, command_timeout=command_timeout(target))
    klass = _guarded_class(connection)
    if connection in SSH_SCHEMES:
        link.control_dir = _control_dir()
        kwargs["ssh_extra_args"] = _ssh_extra_args(target, link.control_dir)
    if connection == "paramiko":
        link.unreachable = (paramiko.SSHException, EOFError)
    backend = klass(**kwargs) if connection == "local" else klass(hostname, **kwargs)
    backend._dc = link
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


#: The command that proves a backend can run commands at all, and its expected output.
LIVENESS_COMMAND, LIVENESS_ANSWER = "echo deploycheck-alive", "deploycheck-alive"


def prove_alive(host: Any, target: Target) -> None:
    """Run one harmless command before any check does, on every backend but local://.

    A ``docker://`` host whose daemon is down, a ``kubectl://`` host without a cluster or an
    ``ansible://`` host without Ansible answers every command with an error exit and a message
    on stderr; checks would read that as "no such file" or "service not found" and end not
    applicable, or failed.  Could not look is an error: the host is marked unusable here, with
    the backend's own words, and every check on it ends as an error citing them.
    """
    scheme = scheme_of(target) or "local"
    if scheme == "local":
        return
    try:
        result = host.run(LIVENESS_COMMAND)
    except TargetUnreachable:
        raise
    except CommandTimeout as exc:
        raise TransportFailure(f"{scheme}://: no answer to a test command ({str(getattr(exc, 'msg', exc)).split(': ', 1)[-1]})") from None
    except Exception as exc:  # noqa: BLE001 - a backend's own failure (ansible not installed, no kubeconfig): could not look
        # testinfra reports a helper command that failed as its CommandResult: its stderr says why.
        stderr = re.search(r"_stderr=b'([^']*)'", str(exc))
        said = stderr.group(1).encode().decode("unicode_escape").strip().splitlines()[0] if stderr and stderr.group(1).strip() else ""
        raise TransportFailure(f"{scheme}://: cannot run commands: {said or type(exc).__name__ + ': ' + first_line(exc)}") from None
    if result.rc != 0 or LIVENESS_ANSWER not in (result.stdout or ""):
        said = next((line.strip() for line in f"{result.stderr or ''}\n{result.stdout or ''}".splitlines() if line.strip()), "")
        raise TransportFailure(f"{scheme}://: cannot run commands (a test command exited {result.rc}"
                               + (f": {said[:300]}" if said else "") + ")")


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


BACKENDS = ("local", "ssh", "safe-ssh", "paramiko", "docker", "podman", "kubectl", "openshift", "ansible", "salt", "winrm", "lxc")

FIELDS: dict[str, Field] = {
    "backend": Field("str", "testinfra connection: local://, ssh://user@host:port, paramiko://..., docker://..., kubectl://..., ansible://...", required=True),
    "sudo": Field("bool", "run commands through sudo"),
    "sudo_user": Field("str", "sudo to this user"),
    "ssh_identity_file": Field("path", "private key for ssh:// and paramiko://", must_exist=True),
    "ssh_config": Field("path", "ssh_config file to use", must_exist=True),
    "ssh_known_hosts": Field("path", "known_hosts file that pins the host key", must_exist=True),
    "ssh_host_key_checking": Field("bool", "false opts out of host key verification (default true: an unknown key fails)"),
    "services": Field("list[str]", "services that must be running and enabled"),
    "listen_allow": Field("list[port]", "ports (or addr:port) allowed to listen"),
    "app_dir": Field("str", "the application's directory on the host"),
    "app_user": Field("str", "the account the application runs as"),
    "app_process": Field("str", "process name (pgrep -f pattern) of the application"),
    "secret_files": Field("list[str]", "files holding secrets: mode 600 or stricter, owned by app_user"),
    "directories": Field("map[record]", "path: {mode: '0750', owner: app} expected for each directory"),
    "log_dir": Field("str", "the application's log directory (log rotation must cover it)"),
    "backups": Field("list[str]", "absolute globs of backup files, one per backup job (/var/backups/pg/*.dump.gpg)"),
    "sshd_config": Field("str", "sshd configuration file on the host for the ssh checks (default: the -f file of the sshd that accepted the check's SSH connection, else /etc/ssh/sshd_config)"),
    "container": Field("bool", "the host is a container: firewall, fail2ban, time sync and automatic updates are then not applicable (default: detected)"),
}


def address(target: Target) -> tuple[str, int] | None:
    """The SSH port of ssh://, safe-ssh:// and paramiko:// hosts; None for the other backends."""
    backend = target.spec["backend"]
    if not backend.startswith(("ssh://", "safe-ssh://", "paramiko://")):
        return None
    parts = urllib.parse.urlsplit(backend)
    return (parts.hostname, parts.port or 22) if parts.hostname else None


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    backend = spec["backend"]
    scheme = backend.split("://", 1)[0] if "://" in backend else ""
    if scheme not in BACKENDS:
        ld.problem(raw["backend"].line, f"{keypath}.backend", f"unknown testinfra backend {scheme or backend!r}; use one of {', '.join(b + '://' for b in BACKENDS)}")
    elif scheme in ("ssh", "safe-ssh") and re.match(r"^[a-z-]+://[^/@]*:[^/@]*@", backend):
        ld.problem(raw["backend"].line, f"{keypath}.backend", "a password in an ssh:// URL would go on a command line; use ssh_identity_file or an ssh-agent")


KIND = TargetKind(
    name="hosts", fixture="host", handle=HostTarget, fields=FIELDS, address=address, validate=validate, host_fixture=True,
    summary="""An inventory host (testinfra): ``host.file("/etc/ssh/sshd_config").mode``,
    ``host.run("sshd -T")``, ``host.label`` for messages.  Parametrized over every ``hosts`` target.

    One connection per host for the whole run (an SSH ControlMaster, or one paramiko client);
    an unknown host key, a refused login or a dead port ends every check on that host as an error.""",
)
