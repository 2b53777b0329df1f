"""Log shipping for the test bed: two rsyslogd processes on 127.0.0.1, as a host and its log
server would run them.

The receiver (the "central store") takes syslog over TCP (``imtcp``) and writes what arrives to
``received.log``.  The shipper tails ``*.log`` in the good log folder (``imfile``) and forwards it
to the receiver (``omfwd``, TCP); nothing tails the bad log folder.  Neither loads ``imuxsock``,
so the machine's ``/dev/log`` is left alone.  ``admin``: the folders and the receiver's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.servers.base import LOOPBACK, ServerProcess, connectable, find_binary, free_port, make_tempdir, wait_until


@dataclass
class LogShipping:
    good_dir: Path
    bad_dir: Path
    received: Path
    shipper_config: Path
    servers: list[ServerProcess]

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def _rsyslogd(name: str, workdir: Path, config: str, ready: object) -> ServerProcess:
    conf = workdir / f"{name}.conf"
    conf.write_text(config)
    server = ServerProcess(name=name, argv=[find_binary("rsyslogd"), "-n", "-f", str(conf), "-i", str(workdir / f"{name}.pid")],
                           workdir=workdir / name, log=workdir / f"{name}.out")
    server.workdir.mkdir()
    return server.start(ready)  # type: ignore[arg-type]


def launch_log_shipping() -> LogShipping:
    workdir = make_tempdir("logship")
    good, bad = workdir / "app-good" / "log", workdir / "app-bad" / "log"
    for folder in (good, bad):
        folder.mkdir(parents=True)
    received = workdir / "received.log"
    port = free_port()
    receiver = _rsyslogd("receiver", workdir, f"""global(workDirectory="{workdir}")
module(load="imtcp")
input(type="imtcp" address="{LOOPBACK}" port="{port}")
action(type="omfile" file="{received}")
""", lambda: connectable(LOOPBACK, port))
    servers = [receiver]
    try:
        spool = workdir / "spool"
        spool.mkdir()
        (good / "app.log").write_text("")
        shipper = _rsyslogd("shipper", workdir, f"""global(workDirectory="{spool}")
module(load="imfile")
input(type="imfile" File="{good}/*.log" Tag="app:")
action(type="omfwd" target="{LOOPBACK}" port="{port}" protocol="tcp")
""", lambda: (spool.exists()))
        servers.append(shipper)
        # Proof that the bed ships: a line written in the good folder reaches the receiver.
        with open(good / "app.log", "a") as fh:
            fh.write("deploycheck test bed: shipped\n")
        wait_until(lambda: received.exists() and "shipped" in received.read_text(), 30, "rsyslog to ship a line to the receiver")
    except BaseException:
        for server in reversed(servers):
            server.stop()
        raise
    return LogShipping(good, bad, received, workdir / "shipper.conf", servers)
