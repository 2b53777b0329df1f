"""OpenSSH servers for the host checks: a hardened one and a weak one, reached as root.

Each server has its own host key, configuration and authorized key in its temporary
directory, and a per-run ed25519 client key; ``known_hosts`` holds the host key, so clients
can verify the server strictly instead of trusting it on first use.

* ``hardened``: keys only (no password or keyboard-interactive), root by key only, modern
  ciphers/MACs/key exchanges, MaxAuthTries 3, LoginGraceTime 30, ClientAliveInterval 300,
  no X11 forwarding.
* ``weak``: passwords allowed, root login allowed outright, X11 forwarding, MaxAuthTries 10,
  CBC ciphers, SHA-1/MD5 MACs and SHA-1 key exchanges added, no client keep-alive.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Literal

from tests.servers import base

SshVariant = Literal["hardened", "weak"]

#: OpenSSH only runs as root with its privilege-separation directory; Debian's sshd.service
#: creates it at boot, so a machine whose sshd service never ran lacks it.
PRIVSEP_DIR = Path("/run/sshd")

_SETTINGS: dict[SshVariant, dict[str, str]] = {
    "hardened": {
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "PermitRootLogin": "prohibit-password",
        "PermitEmptyPasswords": "no",
        "PubkeyAuthentication": "yes",
        "Ciphers": "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr",
        "MACs": "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com",
        "KexAlgorithms": "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
        "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512",
        "MaxAuthTries": "3",
        "LoginGraceTime": "30",
        "ClientAliveInterval": "300",
        "ClientAliveCountMax": "2",
        "X11Forwarding": "no",
        "AllowAgentForwarding": "no",
        "AllowTcpForwarding": "no",
    },
    "weak": {
        "PasswordAuthentication": "yes",
        "KbdInteractiveAuthentication": "yes",
        "PermitRootLogin": "yes",
        "PubkeyAuthentication": "yes",
        # "+" appends to OpenSSH's defaults: the weak algorithms are offered, modern ones still work.
        "Ciphers": "+aes128-cbc,aes256-cbc,3des-cbc",
        "MACs": "+hmac-sha1,hmac-md5",
        "KexAlgorithms": "+diffie-hellman-group14-sha1,diffie-hellman-group1-sha1",
        "MaxAuthTries": "10",
        "X11Forwarding": "yes",
    },
}


def _config(workdir: Path, variant: SshVariant) -> str:
    lines = [
        f"HostKey {workdir / 'ssh_host_ed25519_key'}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        f"ListenAddress {base.LOOPBACK}",
        # No PAM: the test bed must not depend on (or change) the machine's PAM stack.
        "UsePAM no",
        # StrictModes would reject authorized_keys below the world-writable /tmp.
        "StrictModes no",
        "LogLevel VERBOSE",
        *(f"{key} {value}" for key, value in _SETTINGS[variant].items()),
    ]
    return "\n".join(lines) + "\n"


def _fingerprint(public_key_line: str) -> str:
    """The SHA256 fingerprint ``ssh-keygen -l`` prints, computed from the key blob."""
    digest = hashlib.sha256(base64.b64decode(public_key_line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _logs_in(port: int, identity: Path, known_hosts: Path) -> bool:
    result = subprocess.run(
        [
            base.find_binary("ssh"),
            "-F",
            "/dev/null",
            "-i",
            str(identity),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-p",
            str(port),
            f"root@{base.LOOPBACK}",
            "true",
        ],
        capture_output=True,
        timeout=15,
        check=False,
    )
    return result.returncode == 0


def launch_sshd(variant: SshVariant) -> base.Instance:
    """Start an sshd (``hardened`` or ``weak``) on a free port that lets the test's key in as root."""
    if os.geteuid() != 0:
        raise base.LauncherError("launch_sshd needs root: its clients log in as root")
    name = f"sshd-{variant}"
    workdir = base.make_tempdir(name)
    port = base.free_port()
    keygen = base.find_binary("ssh-keygen")
    host_key, identity = workdir / "ssh_host_ed25519_key", workdir / "client_ed25519"
    base.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(host_key)])
    base.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"deploycheck-test@{name}", "-f", str(identity)])
    (workdir / "authorized_keys").write_text(identity.with_suffix(".pub").read_text())
    host_public = host_key.with_suffix(".pub").read_text().strip()
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[{base.LOOPBACK}]:{port} {' '.join(host_public.split()[:2])}\n")
    config = workdir / "sshd_config"
    config.write_text(_config(workdir, variant))
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    argv = [base.find_binary("sshd"), "-f", str(config), "-D", "-e", "-p", str(port)]
    server = base.ServerProcess(name, argv, workdir, workdir / "sshd.log")
    server.start(lambda: _logs_in(port, identity, known_hosts))
    return base.Instance(
        name=name,
        kind="hosts",
        entry={"backend": f"ssh://root@{base.LOOPBACK}:{port}", "ssh_identity_file": str(identity), "ssh_known_hosts": str(known_hosts)},
        env={},
        server=server,
        admin={
            "port": port,
            "host_key_fingerprint": _fingerprint(host_public),
            "config": str(config),
            "identity_file": str(identity),
            "known_hosts": str(known_hosts),
            "paramiko_backend": f"paramiko://root@{base.LOOPBACK}:{port}",
        },
    )
