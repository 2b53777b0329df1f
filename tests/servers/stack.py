"""The demo: the whole reference stack, good and misconfigured side by side, checked in one run.

    scripts/demo                 # = python -m tests.servers.stack
    scripts/demo --keep          # leave the stack running until Enter, to poke at it

Starts PostgreSQL, MariaDB, Redis (cache and broker), the sample app behind nginx (one good site,
one site per TLS/HTTP defect), two sshd, a good and a bad Prometheus and Alertmanager, a
deployed-repository folder and two backup folders, all on 127.0.0.1 in temporary directories;
writes their inventory with an attestations and a waivers file; runs the full catalog with the
HTML, JUnit, JSON and Markdown reports; prints where they are and the verdict; stops everything
by pid.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tests.servers.app import launch_app
from tests.servers.base import Instance
from tests.servers.certs import TestCA
from tests.servers.inventory import CHECKS, REPO, inventory_document, secrets_env
from tests.servers.mariadb import launch_mariadb
from tests.servers.monitoring import launch_alertmanager, launch_prometheus
from tests.servers.nginx import launch_nginx
from tests.servers.postgres import launch_postgres
from tests.servers.redis import launch_redis
from tests.servers.sshd import launch_sshd

REPOSITORY_FILES = {
    "RUNBOOK.md": "# Runbook\n\n## Deploy\nscripts/deploy\n\n## Incidents\nPage the on-call; see ESCALATION.md.\n\n"
                  "## Troubleshooting\nHealth at /health/ready names the failing dependency.\n",
    "ROLLBACK.md": "# Rollback\n\nscripts/deploy --previous; migrations are backwards compatible for one release.\n",
    "ESCALATION.md": "# Escalation\n\nOn-call -> SRE lead -> CTO.\n",
    ".env.production": "NODE_ENV=production\nLOG_LEVEL=info\nJWT_SECRET=Zk3v9Qw7Lm2Xr8Tn4Bp6Yc1Hd5Sj0Gf3Ua\n"
                       "CORS_ORIGIN=https://app.example.com\nMAX_UPLOAD_SIZE=10m\n",
}


def _repository(root: Path) -> Path:
    repo = root / "deployed-repo"
    repo.mkdir()
    for name, text in REPOSITORY_FILES.items():
        (repo / name).write_text(text)
    (repo / ".env.production").chmod(0o600)
    return repo


def _backups(root: Path) -> tuple[str, str]:
    """Two backup folders: a healthy job (recent, encrypted-looking, private) and a stale one
    writing plaintext PostgreSQL dumps anyone can read."""
    good, bad = root / "backups-good", root / "backups-bad"
    for folder, name, header, age, mode in ((good, "shop-{n}.dump.gpg", b"\x85\x02\x0c", 2, 0o600),
                                             (bad, "shop-{n}.dump", b"PGDMP", 60, 0o644)):
        folder.mkdir()
        for n in range(3):
            path = folder / name.format(n=n)
            path.write_bytes(header + os.urandom(4096))
            path.chmod(mode)
            stamp = time.time() - (age + 24 * (2 - n)) * 3600
            os.utime(path, (stamp, stamp))
    return f"{good}/*.dump.gpg", f"{bad}/*.dump"


def _governance(root: Path) -> tuple[Path, Path]:
    """Some attested items, one accepted risk: what a real go-live file set looks like."""
    today = dt.date.today()
    attestations = {"version": 1, "attestations": {
        "signoff-02": {"by": "Dana Ops", "role": "SRE lead", "date": str(today), "evidence": "CHG-4711", "valid_for": "14d"},
        "dr-02": {"by": "Dana Ops", "role": "SRE lead", "date": str(today - dt.timedelta(days=3)),
                  "evidence": "staging rollback drill, CHG-4702", "valid_for": "30d"},
        "dr-04": {"by": "Sam DBA", "role": "database owner", "date": str(today - dt.timedelta(days=20)),
                  "evidence": "restore drill report DR-88", "valid_for": "90d"},
    }}
    waivers = {"version": 1, "waivers": [{
        "id": "RISK-2026-031", "check": "http-06", "target": "*", "max_severity": "medium",
        "justification": "Referrer-Policy ships with the next release; no sensitive URLs until then",
        "approver": "Alex CTO", "ticket": "RISK-31", "expires": str(today + dt.timedelta(days=10)),
    }]}
    att, wav = root / "attestations.yml", root / "waivers.yml"
    att.write_text(yaml.safe_dump(attestations, sort_keys=False))
    wav.write_text(yaml.safe_dump(waivers, sort_keys=False))
    return att, wav


#: What the demo inventory asks of both Prometheus servers: the app scraped, its metrics there.
MONITORING_REQUIREMENTS = {"required_jobs": ["prometheus", "app"], "required_metrics": ["http_requests_total", "app_info"]}


def start_stack(root: Path) -> tuple[list[Instance], list[Callable[[], None]]]:
    """Start every server, in parallel where they do not depend on each other."""
    ca = TestCA.create(root / "ca")
    stops: list[Callable[[], None]] = []
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [
            pool.submit(launch_postgres, "good", ca), pool.submit(launch_postgres, "bad", ca),
            pool.submit(launch_mariadb, "good", ca), pool.submit(launch_mariadb, "bad", ca),
            pool.submit(launch_redis, "good"), pool.submit(launch_redis, "bad"),
            pool.submit(launch_redis, "good", role="broker"),
            pool.submit(launch_sshd, "hardened"), pool.submit(launch_sshd, "weak"),
            pool.submit(launch_alertmanager, "good"), pool.submit(launch_alertmanager, "bad"),
        ]
        apps = {"good": pool.submit(launch_app, "good"), "bad": pool.submit(launch_app, "bad")}
        instances = []
        try:
            for future in [*futures, *apps.values()]:
                inst = future.result()
                instances.append(inst)
                stops.append(inst.stop)
            # The good Prometheus scrapes the good app and sends to the good Alertmanager: both run by now.
            app_url = apps["good"].result().entry["url"]
            alertmanager = next(i for i in instances if i.name == "alertmanager-good")
            monitors = [pool.submit(launch_prometheus, "good", scrape={"app": [app_url.split("://", 1)[1]]}, alertmanager=alertmanager),
                        pool.submit(launch_prometheus, "bad")]
            for future in monitors:
                inst = future.result()
                inst.entry.update(MONITORING_REQUIREMENTS)
                instances.append(inst)
                stops.append(inst.stop)
        except BaseException:
            for stop in stops:
                stop()
            raise
    sites = launch_nginx(ca, {k: f.result() for k, f in apps.items()})
    stops.append(sites.stop)
    # The apps are reached through nginx; the sites are the http targets.
    instances = [i for i in instances if i.kind != "http"] + list(sites.sites.values())
    return instances, stops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(REPO / "demo-output"), help="where the reports go (default: demo-output/)")
    parser.add_argument("--keep", action="store_true", help="keep the stack running until Enter after the run")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    output = Path(args.output).resolve()
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    root = Path(tempfile.mkdtemp(prefix="deploycheck-demo-"))
    stops: list[Callable[[], None]] = []
    try:
        started = time.monotonic()
        print("starting the reference stack on 127.0.0.1 ...", flush=True)
        instances, stops = start_stack(root)
        print(f"stack up in {time.monotonic() - started:.1f}s: {', '.join(sorted(i.name for i in instances))}", flush=True)
        attestations, waivers = _governance(root)
        doc = inventory_document(instances, name="demo", description="pytest-deploycheck reference stack: good and bad side by side",
                                 timeout=3, active_probes=True)
        good_backups, bad_backups = _backups(root)
        doc["hosts"]["localhost"] = {"backend": "local://", "backups": [bad_backups]}
        for name, entry in doc["hosts"].items():
            if name.endswith("hardened"):
                entry["backups"] = [good_backups]
        doc["files"] = {"repo": {"path": str(_repository(root)), "env_files": [".env.production"]}}
        inventory = output / "inventory.yml"
        inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {**os.environ, **secrets_env(instances)}
        command = [
            sys.executable, "-m", "pytest", str(CHECKS), f"--inventory={inventory}", f"--rootdir={REPO}",
            "-p", "no:cacheprovider", "-q", "--no-header",
            f"--deploycheck-attestations={attestations}", f"--deploycheck-waivers={waivers}",
            f"--deploycheck-html={output / 'go-live.html'}", f"--junitxml={output / 'junit.xml'}",
            f"--deploycheck-json={output / 'go-live.json'}", f"--deploycheck-checklist-md={output / 'checklist.md'}",
            *args.pytest_args,
        ]
        run_started = time.monotonic()
        status = subprocess.run(command, env=env, cwd=REPO, check=False).returncode
        print(f"\ncatalog run took {time.monotonic() - run_started:.1f}s (exit status {status}: NO-GO is expected, "
              "the stack is half misconfigured on purpose)")
        print("reports:")
        for name in ("go-live.html", "junit.xml", "go-live.json", "checklist.md", "inventory.yml"):
            print(f"  {output / name}")
        if args.keep:
            input("stack still running; press Enter to stop it ")
        return 0 if (output / "go-live.json").exists() else 1
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
