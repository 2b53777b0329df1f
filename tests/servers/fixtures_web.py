"""Session fixtures for the web and host side of the test bed: the sample app, nginx, OpenSSH.

A server starts the first time a test asks for it and stops at the end of the session, also
when the session fails or is interrupted.  Under xdist each worker starts its own copy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.app import launch_app
from tests.servers.base import Instance, serve
from tests.servers.certs import TestCA
from tests.servers.fixtures_data import test_ca
from tests.servers.nginx import launch_nginx
from tests.servers.sshd import launch_sshd

__all__ = ["nginx_sites", "sample_app_bad", "sample_app_good", "sshd_hardened", "sshd_weak", "test_ca"]


@pytest.fixture(scope="session")
def sample_app_good() -> Iterator[Instance]:
    """The well configured sample app over plain HTTP (rate limit, 15-minute tokens, secure cookie).

    ``entry`` is an ``http`` inventory entry; ``env`` holds its login; see ``launch_app``::

        def test_x(sample_app_good):
            requests.get(sample_app_good.entry["url"] + "/health")
    """
    yield from serve(launch_app("good"))


@pytest.fixture(scope="session")
def sample_app_bad() -> Iterator[Instance]:
    """The badly configured sample app (debug, no rate limit, admin/admin, 30-day tokens); see ``launch_app``."""
    yield from serve(launch_app("bad"))


@pytest.fixture(scope="session")
def nginx_sites(test_ca: TestCA, sample_app_good: Instance, sample_app_bad: Instance) -> Iterator[dict[str, Instance]]:
    """One nginx with a good site and one site per defect, by name; see ``tests.servers.nginx.SITES``::

    def test_x(nginx_sites):
        good = nginx_sites["good"]
        requests.get(good.entry["url"] + "/health", verify=good.entry["ca_bundle"])
    """
    sites = launch_nginx(test_ca, {"good": sample_app_good, "bad": sample_app_bad})
    try:
        yield sites.sites
    finally:
        sites.stop()


@pytest.fixture(scope="session")
def sshd_hardened() -> Iterator[Instance]:
    """A hardened OpenSSH server that lets the run's key in as root; see ``launch_sshd``::

    def test_x(sshd_hardened):
        host = testinfra.get_host(sshd_hardened.entry["backend"], ssh_identity_file=...)
    """
    yield from serve(launch_sshd("hardened"))


@pytest.fixture(scope="session")
def sshd_weak() -> Iterator[Instance]:
    """A weak OpenSSH server (passwords, root login, CBC ciphers, SHA-1 MACs); see ``launch_sshd``."""
    yield from serve(launch_sshd("weak"))
