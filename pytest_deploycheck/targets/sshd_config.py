"""The effective configuration of the sshd that a host's SSH connection reached.

The ssh checks judge what sshd *does*, not what a file says, so the configuration comes from
``sshd -T`` (the extended test mode prints every setting after defaults, ``Include`` files and
command-line overrides).  Which sshd, and with which options, is decided once per host:

1. the inventory's ``sshd_config`` key: ``sshd -T -f <that file>``;
2. otherwise the sshd *listener* among the ancestors of the check's own shell, i.e. the server
   that accepted this very connection (a test bed's sshd on port 2222 with its own file, an
   RHEL sshd started with ``-oCiphers=...`` by crypto-policies): its command line gives the
   ``-f`` file and the overrides (``-o``, ``-p``, ``-g``, ``-h``, ``-c``), and ``$SSH_CONNECTION``
   gives ``-C user=...,addr=...,laddr=...,lport=...`` so that ``Match`` blocks apply as they
   do to this connection;
3. otherwise (``local://``, ``docker://``, a ``sudo: true`` login, whose environment sudo
   resets) the system sshd: ``sshd -T`` with ``/etc/ssh/sshd_config``.

``sshd -T`` needs root (it loads the host keys).  When it fails (an unprivileged login without
``sudo: true``), the files are read instead: the config file and its ``Include`` files, first
value wins, ``Match`` blocks skipped, OpenSSH 9 defaults for what is unset.  The evidence then
says ``source: file`` and why: an approximation, named as such.  No sshd binary on the host:
the ssh checks are not applicable.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_deploycheck.outcomes import TargetError, not_applicable

DEFAULT_CONFIG = "/etc/ssh/sshd_config"

#: OpenSSH 9.x built-in algorithm lists, for the file fallback (sshd -T prints the real ones).
DEFAULT_CIPHERS = ("chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
                   "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
DEFAULT_MACS = ("umac-64-etm@openssh.com", "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com",
                "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com",
                "umac-128@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1")
DEFAULT_KEX = ("sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
               "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256",
               "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256")

#: OpenSSH 9.x defaults of the settings the catalog reads, as ``sshd -T`` would print them.
DEFAULTS: dict[str, str] = {
    "passwordauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "permitrootlogin": "prohibit-password",
    "permitemptypasswords": "no",
    "pubkeyauthentication": "yes",
    "maxauthtries": "6",
    "logingracetime": "120",
    "clientaliveinterval": "0",
    "clientalivecountmax": "3",
    "x11forwarding": "no",
    "disableforwarding": "no",
    "usepam": "no",
    "ciphers": ",".join(DEFAULT_CIPHERS),
    "macs": ",".join(DEFAULT_MACS),
    "kexalgorithms": ",".join(DEFAULT_KEX),
}

#: Old names sshd still accepts, mapped to the name ``sshd -T`` prints.
ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication"}

TIME_SETTINGS = ("logingracetime", "clientaliveinterval")
ALGORITHM_SETTINGS = {"ciphers": DEFAULT_CIPHERS, "macs": DEFAULT_MACS, "kexalgorithms": DEFAULT_KEX}

#: sshd options that take a value; of those, the ones that change the configuration ``-T`` prints.
_VALUE_FLAGS = "cEfghkop"
_KEPT_FLAGS = "cfghop"

_PROBE = r"""
b=$(command -v sshd 2>/dev/null)
for d in /usr/sbin /usr/local/sbin /sbin; do [ -z "$b" ] && [ -x "$d/sshd" ] && b="$d/sshd"; done
printf 'binary\t%s\n' "$b"
printf 'connection\t%s\n' "$SSH_CONNECTION"
printf 'user\t%s\n' "$(id -un 2>/dev/null)"
p=$$
while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
  printf 'process\t%s\t' "$p"; tr '\000' '\001' < "/proc/$p/cmdline" 2>/dev/null; echo
  p=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
done
"""


# --------------------------------------------------------------------------- weak algorithms


def weak_ciphers(names: list[str]) -> list[str]:
    """CBC modes (plaintext recovery), RC4, 3DES (Sweet32), Blowfish, CAST, none."""
    return [n for n in names if re.search(r"cbc|arcfour|rc4|3des|blowfish|cast128|^des|^none$", n)]


def weak_macs(names: list[str]) -> list[str]:
    """MD5, SHA-1, RIPEMD-160, 96-bit truncations and 64-bit UMAC tags."""
    return [n for n in names if re.search(r"md5|ripemd|umac-64|-96|sha1($|[-@])", n)]


def weak_kex(names: list[str]) -> list[str]:
    """Key exchanges over SHA-1 (group1, group14-sha1, group-exchange-sha1, gss-*-sha1) and 1024-bit DH."""
    return [n for n in names if re.search(r"sha1($|[-@])|group1($|-)", n)]


# --------------------------------------------------------------------------- the configuration


@dataclass(frozen=True)
class SshdConfig:
    """Settings as ``sshd -T`` prints them: lower-case keywords, the first value of each."""

    values: Mapping[str, str]
    source: str  # "sshd -T" or "file"
    config: str  # the configuration file it starts from
    binary: str
    listener: str = ""  # "pid 812: /usr/sbin/sshd -D -f ..." when found among the ancestors
    command: str = ""  # the sshd -T command line that produced values
    note: str = ""  # why the files were read instead, or what was not evaluated
    files: tuple[str, ...] = field(default=())

    def get(self, key: str) -> str:
        return self.values.get(key, DEFAULTS.get(key, "")).strip()

    def flag(self, key: str) -> str:
        """A yes/no style setting, lower-case."""
        return self.get(key).lower()

    def algorithms(self, key: str) -> list[str]:
        return [a for a in self.get(key).split(",") if a]

    def number(self, key: str) -> int:
        value = self.get(key)
        try:
            return parse_time(value) if key in TIME_SETTINGS else int(value)
        except ValueError:
            raise TargetError(f"sshd setting {key} = {value!r} is not a number") from None

    def evidence(self, *keys: str) -> dict[str, Any]:
        data: dict[str, Any] = {key: self.get(key) for key in keys}
        data.update(source=self.source, config=self.config)
        if self.listener:
            data["listener"] = self.listener
        if self.note:
            data["note"] = self.note
        return data


def parse_time(value: str) -> int:
    """sshd time format: ``90``, ``30s``, ``2m``, ``1h30m`` -> seconds."""
    value = value.strip().lower()
    if value.isdigit():
        return int(value)
    parts = re.findall(r"(\d+)([smhdw]?)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(value)
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(int(n) * scale[u] for n, u in parts)


def parse_dump(text: str) -> dict[str, str]:
    """``sshd -T`` output -> {keyword: first value}."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            values.setdefault(key.lower(), value.strip())
    return values


# --------------------------------------------------------------------------- which sshd


@dataclass(frozen=True)
class Probe:
    binary: str
    connection: str
    user: str
    chain: tuple[tuple[int, tuple[str, ...]], ...]  # (pid, argv) from the shell up to PID 1


def parse_probe(text: str) -> Probe:
    binary = connection = user = ""
    chain: list[tuple[int, tuple[str, ...]]] = []
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "binary":
            binary = rest.strip()
        elif kind == "connection":
            connection = rest.strip()
        elif kind == "user":
            user = rest.strip()
        elif kind == "process":
            pid, _, cmdline = rest.partition("\t")
            if pid.strip().isdigit():
                chain.append((int(pid), tuple(a for a in cmdline.split("\x01") if a)))
    return Probe(binary, connection, user, tuple(chain))


def find_listener(chain: tuple[tuple[int, tuple[str, ...]], ...]) -> tuple[int, list[str]] | None:
    """The sshd listener among the ancestors: its pid and its command line.

    OpenSSH >= 8.x retitles the listener ``sshd: /usr/sbin/sshd -D [listener] 0 of 10-100
    startups`` (one string); older ones keep the argv.  Per-connection processes (``sshd:
    root@notty``, ``sshd: root [priv]``, ``sshd-session: ...``) are skipped.
    """
    for pid, argv in chain:
        if not argv:
            continue
        first = argv[0]
        if first.startswith(("sshd:", "sshd-session:")):
            match = re.match(r"^sshd: (.*?) \[listener\]", " ".join(argv))
            if match:
                try:
                    return pid, shlex.split(match.group(1))
                except ValueError:
                    return pid, match.group(1).split()
            continue
        if os.path.basename(first) == "sshd":
            return pid, list(argv)
    return None


def listener_options(argv: list[str]) -> tuple[str | None, list[str]]:
    """(the -f file, the options that shape the configuration) from an sshd command line."""
    config: str | None = None
    options: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and len(arg) > 1:
            for j, flag in enumerate(arg[1:], start=1):
                if flag in _VALUE_FLAGS:
                    value = arg[j + 1:]
                    if not value and i + 1 < len(argv):
                        i += 1
                        value = argv[i]
                    if flag in _KEPT_FLAGS:
                        options += [f"-{flag}", value]
                    if flag == "f":
                        config = value
                    break
                if flag in "46":
                    options.append(f"-{flag}")
        i += 1
    return config, options


def connection_spec(probe: Probe) -> str | None:
    """``-C`` for sshd -T from ``$SSH_CONNECTION`` (client addr, port, server addr, port)."""
    parts = probe.connection.split()
    if len(parts) != 4 or not probe.user:
        return None
    client, _, server, port = parts
    return f"user={probe.user},host={client},addr={client},laddr={server},lport={port}"


def effective(host: Any) -> SshdConfig:
    """The host's effective sshd configuration (memoized per host and run); n/a without sshd."""
    return host.memo("sshd-effective", lambda: _discover(host))  # type: ignore[no-any-return]


def _discover(host: Any) -> SshdConfig:
    probe = parse_probe(host.run("sh -c %s", _PROBE).stdout)
    if not probe.binary:
        not_applicable(f"{host.name}: sshd is not installed (no sshd binary on the host)")
    inventory_config = host.setting("sshd_config")
    found = find_listener(probe.chain)
    listener = ""
    options: list[str] = []
    spec = None
    config = DEFAULT_CONFIG
    binary = probe.binary
    if inventory_config:
        config = str(inventory_config)
        options = ["-f", config]
        spec = connection_spec(probe)
    elif found is not None:
        pid, argv = found
        listener = f"pid {pid}: {' '.join(argv)}"
        file, options = listener_options(argv)
        config = file or DEFAULT_CONFIG
        if argv and argv[0].startswith("/"):
            binary = argv[0]
        spec = connection_spec(probe)
    attempts = [[binary, "-T", *options, "-C", spec], [binary, "-T", *options]] if spec else [[binary, "-T", *options]]
    failure = ""
    for argv in attempts:
        result = host.run(" ".join("%s" for _ in argv), *argv)
        if result.rc == 0 and result.stdout.strip():
            return SshdConfig(values=parse_dump(result.stdout), source="sshd -T", config=config, binary=binary,
                              listener=listener, command=" ".join(argv),
                              note="" if spec or not listener else "Match blocks not evaluated (connection unknown)")
        lines = (result.stderr or result.stdout).strip().splitlines()
        failure = lines[-1] if lines else f"exit status {result.rc}"
    values, files = read_files(lambda path: _cat(host, path), lambda folder: _ls(host, folder), config)
    if not files:
        raise TargetError(f"{host.label}: sshd -T failed ({failure}) and {config} cannot be read")
    return SshdConfig(values=values, source="file", config=config, binary=binary, listener=listener,
                      command=" ".join(attempts[-1]), files=tuple(files),
                      note=f"sshd -T failed ({failure}); read {', '.join(files)} instead (Match blocks skipped); "
                           "run as root or with sudo: true for the effective configuration")


def _cat(host: Any, path: str) -> str | None:
    result = host.run("cat -- %s", path)
    return result.stdout if result.rc == 0 else None


def _ls(host: Any, folder: str) -> list[str]:
    result = host.run("ls -1A -- %s", folder)
    return result.stdout.splitlines() if result.rc == 0 else []


# --------------------------------------------------------------------------- file fallback


def read_files(read: Callable[[str], str | None], listdir: Callable[[str], list[str]], path: str) -> tuple[dict[str, str], list[str]]:
    """Settings from sshd_config and its Include files (first value wins, Match blocks skipped),
    completed with OpenSSH's defaults and normalised as ``sshd -T`` prints them."""
    raw: dict[str, str] = {}
    files: list[str] = []
    _read_one(read, listdir, path, raw, files, depth=0)
    values = dict(DEFAULTS)
    for key, value in raw.items():
        key = ALIASES.get(key, key)
        if key in ALGORITHM_SETTINGS:
            values[key] = ",".join(apply_modifier(value, ALGORITHM_SETTINGS[key]))
        elif key in TIME_SETTINGS:
            try:
                values[key] = str(parse_time(value))
            except ValueError:
                values[key] = value
        elif value.lower() in ("yes", "no"):
            values[key] = value.lower()
        else:
            values[key] = value
    if values.get("permitrootlogin") == "without-password":
        values["permitrootlogin"] = "prohibit-password"
    return values, files


def _read_one(read: Callable[[str], str | None], listdir: Callable[[str], list[str]], path: str, raw: dict[str, str],
              files: list[str], depth: int) -> None:
    if depth > 16:
        return
    text = read(path)
    if text is None:
        return
    files.append(path)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(\S+?)(?:\s*=\s*|\s+)(.*)$", line)
        if not match:
            continue
        keyword, value = match.group(1).lower(), match.group(2).strip().strip('"')
        if keyword == "match":
            return  # the rest of this file belongs to Match blocks
        if keyword == "include":
            for pattern in shlex.split(value):
                for included in _expand(listdir, pattern):
                    _read_one(read, listdir, included, raw, files, depth + 1)
            continue
        raw.setdefault(ALIASES.get(keyword, keyword), value)


def _expand(listdir: Callable[[str], list[str]], pattern: str) -> list[str]:
    if not pattern.startswith("/"):
        pattern = "/etc/ssh/" + pattern
    if not any(c in pattern for c in "*?["):
        return [pattern]
    folder, name = os.path.split(pattern)
    return sorted(os.path.join(folder, n) for n in listdir(folder) if fnmatch.fnmatchcase(n, name))


def apply_modifier(value: str, default: tuple[str, ...]) -> list[str]:
    """``+a,b`` appends to the default list, ``-a*`` removes matches, ``^a`` puts first."""
    value = value.strip()
    names = [v for v in value[1:].split(",") if v] if value[:1] in "+-^" and value else []
    if value.startswith("+"):
        return [*default, *(n for n in names if n not in default)]
    if value.startswith("-"):
        return [d for d in default if not any(fnmatch.fnmatchcase(d, n) for n in names)]
    if value.startswith("^"):
        return [*names, *(d for d in default if d not in names)]
    return [v for v in value.split(",") if v]
