"""Capture the API answers of the test bed's real Prometheus/Alertmanager (good and bad) as JSON,
for tests/test_monitoring_logic.py.  Run again when the servers or the test bed change:

    PYTHONPATH=. .venv/bin/python tests/servers/monitoring_captures/capture.py
"""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.servers.app import launch_app
from tests.servers.monitoring import launch_alertmanager, launch_prometheus

OUT = Path(__file__).parent
PROM_PATHS = {
    "targets": ("/api/v1/targets", {}),
    "rules": ("/api/v1/rules", {}),
    "alerts": ("/api/v1/alerts", {}),
    "alertmanagers": ("/api/v1/alertmanagers", {}),
    "flags": ("/api/v1/status/flags", {}),
    "runtimeinfo": ("/api/v1/status/runtimeinfo", {}),
}


def save(name: str, body: object) -> None:
    (OUT / f"{name}.json").write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")


def main() -> None:
    am_good, am_bad = launch_alertmanager("good"), launch_alertmanager("bad")
    app = launch_app("good")
    started = [am_good, am_bad, app]
    try:
        prom_good = launch_prometheus("good", scrape={"app": [app.entry["url"].split("://")[1]]}, alertmanager=am_good)
        started.append(prom_good)
        prom_bad = launch_prometheus("bad")
        started.append(prom_bad)
        for variant, prom in (("good", prom_good), ("bad", prom_bad)):
            auth = (prom.admin["username"], prom.admin["password"]) if prom.admin["password"] else None
            for key, (path, params) in PROM_PATHS.items():
                save(f"prometheus_{variant}_{key}", requests.get(prom.entry["url"] + path, params=params, auth=auth, timeout=5).json())
        for variant, am in (("good", am_good), ("bad", am_bad)):
            save(f"alertmanager_{variant}_status", requests.get(am.entry["url"] + "/api/v2/status", timeout=5).json())
    finally:
        for inst in reversed(started):
            inst.stop()


if __name__ == "__main__":
    main()
