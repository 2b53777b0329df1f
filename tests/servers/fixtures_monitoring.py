"""Session fixtures for the monitoring side of the test bed: Prometheus and Alertmanager.

A server starts the first time a test asks for it and stops at the end of the session, also
when the session fails or is interrupted.  Under xdist each worker starts its own copy.  Each
Prometheus fixture returns only once its API shows the variant's state (see ``launch_prometheus``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.base import LOOPBACK, Instance, free_port, serve
from tests.servers.monitoring import launch_alertmanager, launch_prometheus

# prometheus_good asks for sample_app_good (tests.servers.fixtures_web) by name; it is not
# re-exported here so that importing both modules registers it once.
__all__ = ["alertmanager_bad", "alertmanager_good", "prometheus_bad", "prometheus_good"]


def _target(instance: Instance) -> str:
    """``host:port`` of an http instance, as a Prometheus static target."""
    return str(instance.entry["url"]).split("://", 1)[1].split("/", 1)[0]


@pytest.fixture(scope="session")
def alertmanager_good() -> Iterator[Instance]:
    """An Alertmanager that routes ``severity="critical"`` to the webhook receiver ``oncall-critical``.

    ``entry`` is ``{"url": ...}``; ``admin["webhook"]`` records what was delivered; see ``launch_alertmanager``::

        def test_x(alertmanager_good):
            requests.get(alertmanager_good.entry["url"] + "/api/v2/status").json()["config"]["original"]
    """
    yield from serve(launch_alertmanager("good"))


@pytest.fixture(scope="session")
def alertmanager_bad() -> Iterator[Instance]:
    """An Alertmanager whose only receiver, ``null``, has no configs: every alert is dropped."""
    yield from serve(launch_alertmanager("bad"))


@pytest.fixture(scope="session")
def prometheus_good(sample_app_good: Instance, alertmanager_good: Instance) -> Iterator[Instance]:
    """A well set up Prometheus: jobs ``prometheus`` and ``app`` up, a rule for every concern, none firing;
    a blackbox exporter probing the app and a retired site (``admin["probes"]``; the second fails).

    Sends to ``alertmanager_good``, keeps 15 days, asks for basic auth (``entry`` has ``username``
    and ``password`` as ``${DC_PROMETHEUS_GOOD_PASSWORD}``, the value in ``env``); see ``launch_prometheus``::

        def test_x(prometheus_good):
            auth = (prometheus_good.admin["username"], prometheus_good.admin["password"])
            requests.get(prometheus_good.entry["url"] + "/api/v1/targets", auth=auth)
    """
    # Uptime probes: the app, and a site being retired (nothing listens there any more: its probe fails).
    probes = [sample_app_good.entry["url"].rstrip("/") + "/", f"http://{LOOPBACK}:{free_port()}/"]
    yield from serve(launch_prometheus("good", scrape={"app": [_target(sample_app_good)]}, alertmanager=alertmanager_good, probe=probes))


@pytest.fixture(scope="session")
def prometheus_bad() -> Iterator[Instance]:
    """A badly set up Prometheus: job ``node`` down, a critical test alert firing, a rule in error,
    one concern covered, no Alertmanager, 2 days of retention, no authentication."""
    yield from serve(launch_prometheus("bad"))
