"""Session fixtures for the web and host side of the test bed: the sample app, nginx, OpenSSH, NSD.

A server starts the first time a test asks for it and stops at the end of the session, also
when the session fails or is interrupted.  Under xdist each worker starts its own copy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.app import launch_app
from tests.servers.base import Instance, serve
from tests.servers.certs import TestCA
from tests.servers.dns import launch_dns
from tests.servers.fixtures_data import test_ca
from tests.servers.nginx import launch_nginx
from tests.servers.smtp import MailBed, launch_mail
from tests.servers.sshd import launch_sshd
from tests.servers.users_db import with_users_table
from tests.servers.users_db_mysql import with_users_table_mysql

__all__ = [
    "app_users_mysql_bad",
    "app_users_mysql_good",
    "app_users_pg_bad",
    "app_users_pg_good",
    "dns_bad",
    "dns_good",
    "mail_bed",
    "nginx_sites",
    "sample_app_bad",
    "sample_app_good",
    "sshd_hardened",
    "sshd_weak",
    "test_ca",
]


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


@pytest.fixture(scope="session")
def app_users_pg_good(pg_good: Instance) -> Instance:
    """``pg_good`` (from ``fixtures_data``, found by name through the conftest) with the application's ``users`` table: bcrypt cost 12 and argon2id hashes.

    ``admin["password_storage"]`` names the table and column; see ``tests.servers.users_db``::

        def test_x(app_users_pg_good):
            table = app_users_pg_good.admin["password_storage"]["table"]
    """
    return with_users_table(pg_good, "good")


@pytest.fixture(scope="session")
def app_users_pg_bad(pg_bad: Instance) -> Instance:
    """``pg_bad`` with the application's ``users`` table: bcrypt cost 4, unsalted MD5 and plaintext."""
    return with_users_table(pg_bad, "bad")


@pytest.fixture(scope="session")
def app_users_mysql_good(mariadb_good: Instance) -> Instance:
    """``mariadb_good`` with the application's ``app.users`` table: bcrypt cost 12 and argon2id (``users_db_mysql``)."""
    return with_users_table_mysql(mariadb_good, "good")


@pytest.fixture(scope="session")
def app_users_mysql_bad(mariadb_bad: Instance) -> Instance:
    """``mariadb_bad`` with the application's ``app.users`` table: bcrypt cost 4, unsalted MD5 and plaintext."""
    return with_users_table_mysql(mariadb_bad, "bad")


@pytest.fixture(scope="session")
def dns_good() -> Iterator[Instance]:
    """The good zone ``good.test``: one signed zone on two nameserver ports; see ``launch_dns``."""
    yield from serve(launch_dns("good"))


@pytest.fixture(scope="session")
def dns_bad() -> Iterator[Instance]:
    """The bad zone ``bad.test``: a primary and a stale secondary that disagree; see ``launch_dns``."""
    yield from serve(launch_dns("bad"))


@pytest.fixture(scope="session")
def mail_bed(test_ca: TestCA) -> Iterator[MailBed]:
    """The mail servers: smtp-good, smtp-wrongpass, smtps-good, smtp-bad, smtp-expired; see ``launch_mail``."""
    bed = launch_mail(test_ca)
    try:
        yield bed
    finally:
        bed.stop()
