"""The ``hosts`` kind and its ``host`` fixture: an inventory host reached through pytest-testinfra.

The fixture is registered only when an inventory is given, after every entry-point
plugin, so it deliberately replaces testinfra's own ``host`` fixture for that run (testinfra's
``--hosts`` then has no effect on catalog checks).  Without an inventory, testinfra's ``host``
works as usual for a project's own tests.

Every ``hosts`` backend testinfra offers works (``local://``, ``ssh://``, ``safe-ssh://``,
``paramiko://``, ``docker://``, ``kubectl://``, ``ansible://``, ...), with these rules on top:

* **Work a machine answers once is done once.**  ``host.memo`` keeps facts per *machine* and
  account, not per inventory entry: two entries that reach the same machine (``/etc/machine-id``,
  boot id and host name, read with one command per host) as the same user share the pending
  package updates, the listening sockets and every other memoized fact.  Facts about the SSH server
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

import re
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_deploycheck.outcomes import NotApplicable, TargetError, TargetUnreachable
from pytest_deploycheck.targets.base import Field, Once, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.host_links import (
    SSH_SCHEMES,
    CommandTimeout,
    TransportFailure,
    _control_dir,
    _guarded_class,
    _Link,
    _ssh_extra_args,
    command_timeout,
    scheme_of,
    testinfra_kwargs,
)
from pytest_deploycheck.targets.object_store import parse_copy_url
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

T = TypeVar("T")

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
        self._memo: dict[str, tuple[bool, Any]] = {}  # this entry's not-applicable and error outcomes of shared facts
        self._facts = Once()  # scope="host": this entry's own facts
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
        this entry only: its message names it.  A call made while another thread computes the
        same key waits for that answer; different keys are computed at the same time.
        """
        scope = scope or ("connection" if key.startswith(CONNECTION_SCOPED) else "machine")
        shared = self._shared_store(scope) if scope != "host" else None  # the machine() command runs here, once per entry
        with self._lock:
            if key in self._memo:
                return self._replay(self._memo[key])  # type: ignore[no-any-return]
        if shared is None:
            return self._replay(self._facts.get(key, lambda: self._compute(compute)))  # type: ignore[no-any-return]
        try:
            return self._replay(shared.get(key, lambda: self._shareable(compute)))  # type: ignore[no-any-return]
        except _EntryOnly as only:
            with self._lock:
                self._memo[key] = only.outcome
            return self._replay(only.outcome)  # type: ignore[no-any-return]

    @classmethod
    def _shareable(cls, compute: Callable[[], Any]) -> tuple[bool, Any]:
        """A machine fact's outcome; a not-applicable or error one is raised, so the machine's
        store does not keep it: it names this entry."""
        outcome = cls._compute(compute)
        if not outcome[0]:
            raise _EntryOnly(outcome)
        return outcome

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

    def _shared_store(self, scope: str) -> Once:
        identity = self.machine()
        name = identity.key
        if scope == "connection":
            # The SSH server's facts depend on which sshd accepted the login and on the file the
            # inventory names (``sshd_config``), not on the machine alone.
            name += f"|sshd {identity.connection}|config {self.target.get('sshd_config') or ''}"
        registry = self.reach.shared("hosts.machines")
        with _REGISTRY_LOCK:
            if name not in registry:
                registry[name] = Once()  # the machine's facts
            return registry[name]  # type: ignore[no-any-return]

    def warm(self) -> None:
        """Connect and read the machine identity now: the start-of-run prefetch (``preflight.py``)
        does this for every host at once, so the logins overlap instead of waiting in turn."""
        self.testinfra  # noqa: B018 - the property connects
        self.machine()

    @classmethod
    def reads_beside_checks(cls, target: Target) -> bool:
        """Yes for the backends that run each command as its own process (local, ssh, docker,
        kubectl, ...): two threads' commands never share a channel.  ``memo`` computes a key
        once, whoever asks first.  paramiko, ansible, salt and winrm keep a client object."""
        return (scheme_of(target) or "local") in PROCESS_PER_COMMAND

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


class _EntryOnly(Exception):
    """A machine fact's not-applicable or error outcome, kept for the entry that met it only."""

    def __init__(self, outcome: tuple[bool, Any]) -> None:
        super().__init__(outcome)
        self.outcome = outcome


#: Backends whose every command is a process of its own (``_Rules.run_local``).
PROCESS_PER_COMMAND = ("local", "ssh", "safe-ssh", "docker", "podman", "kubectl", "openshift", "lxc")

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
    "logrotate_config": Field("list[str]", "logrotate configuration files of the application's own logrotate run (from its crontab), read besides /etc/logrotate.conf"),
    "scheduled_jobs": Field("list[str]", "jobs that must be scheduled, each a regular expression matched against the host's cron lines, "
                            "periodic scripts and active systemd timers: pg_dump, 'certbot renew', cleanup"),
    "cron_files": Field("list[str]", "crontab files read besides /etc/crontab, /etc/cron.d and the users' crontabs (an application's own)"),
    "backups": Field("list[str]", "absolute globs of backup files, one per backup job (/var/backups/pg/*.dump.gpg)"),
    "backup_copies": Field("list[str]", "where copies of the backups are kept off the host: s3://bucket/prefix/*.dump.gpg "
                           "(S3 or an S3-compatible store; a glob on the object's name), one per job"),
    "s3": Field("record", "how to reach the store of backup_copies (default: boto3's own credentials and AWS)", fields={
        "endpoint": Field("url", "an S3-compatible store's endpoint (MinIO, Cloudflare R2, Backblaze B2, Wasabi); unset: AWS"),
        "region": Field("str", "the region (AWS: the bucket's)"),
        "access_key_id": Field("str", "the access key (else AWS_ACCESS_KEY_ID, ~/.aws or an instance role)"),
        "secret_access_key": Field("str", "its secret: ${S3_SECRET}"),
    }),
    "sshd_config": Field("str", "sshd configuration file on the host for the ssh checks (default: the -f file of the sshd that accepted the check's SSH connection, else /etc/ssh/sshd_config)"),
    "swap": Field("choice", "the host's swap policy: off (Kubernetes nodes, Redis, Elasticsearch) or on (a VM that should page out rather than OOM-kill); unset: not judged",
                  choices=("off", "on")),
    "sysctl": Field("map[value]", "kernel parameters the host must have, as sysctl names them: "
                    "{vm.swappiness: 1, net.core.somaxconn: '>=1024', net.ipv4.ip_local_port_range: '1024 65535'} (>=N, <=N: a bound)"),
    "timezone": Field("str", "the time zone the system clock must be in (default UTC; an IANA name such as Europe/Berlin; any: not judged)"),
    "container": Field("bool", "the host is a container: firewall, fail2ban, time sync and automatic updates are then not applicable (default: detected)"),
}


#: A sysctl name: dotted words (``net.ipv4.conf.all.rp_filter``); read from /proc/sys/<dots as slashes>.
SYSCTL_NAME = re.compile(r"[a-z0-9_]+(?:\.[a-zA-Z0-9_-]+)+")


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
    for index, url in enumerate(spec.get("backup_copies") or ()):
        try:
            parse_copy_url(str(url))
        except ValueError as exc:
            ld.problem(raw["backup_copies"].line, f"{keypath}.backup_copies[{index}]", str(exc))
    s3 = spec.get("s3") or {}
    if bool(s3.get("access_key_id")) != bool(s3.get("secret_access_key")):
        ld.problem(raw["s3"].line, f"{keypath}.s3", "give access_key_id and secret_access_key together (or neither, for boto3's own credentials)")
    for name, value in (spec.get("sysctl") or {}).items():
        if not SYSCTL_NAME.fullmatch(name):
            ld.problem(raw["sysctl"].line, f"{keypath}.sysctl.{name}", "not a kernel parameter name; write it as sysctl does (net.core.somaxconn)")
        elif value.startswith((">=", "<=")) and not re.fullmatch(r"-?\d+", value[2:].strip()):
            ld.problem(raw["sysctl"].line, f"{keypath}.sysctl.{name}", f"{value!r}: a bound takes a whole number (>=1024)")
    for index, pattern in enumerate(spec.get("scheduled_jobs") or ()):
        try:
            re.compile(str(pattern))
        except re.error as exc:
            ld.problem(raw["scheduled_jobs"].line, f"{keypath}.scheduled_jobs[{index}]",
                       f"{pattern!r} is not a regular expression ({exc}); escape special characters, e.g. 'certbot renew' or 'backup\\.sh'")


KIND = TargetKind(
    name="hosts", fixture="host", handle=HostTarget, fields=FIELDS, address=address, validate=validate, host_fixture=True,
    summary="""An inventory host (testinfra): ``host.file("/etc/ssh/sshd_config").mode``,
    ``host.run("sshd -T")``, ``host.label`` for messages.  Parametrized over every ``hosts`` target.

    One connection per host for the whole run (an SSH ControlMaster, or one paramiko client);
    an unknown host key, a refused login or a dead port ends every check on that host as an error.""",
)
