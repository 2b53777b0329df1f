"""Session fixtures for the data stores of the test bed, and the test CA every server shares.

A server starts the first time a test asks for it (pytest runs a fixture only on request) and
stops at the end of the session, also when the session fails or is interrupted.  Under xdist
each worker starts its own copy, on its own ports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.base import Instance, serve
from tests.servers.certs import TestCA
from tests.servers.mariadb import launch_mariadb
from tests.servers.postgres import launch_postgres
from tests.servers.redis import launch_redis

__all__ = [
    "mariadb_bad",
    "mariadb_good",
    "pg_bad",
    "pg_good",
    "redis_bad",
    "redis_broker_good",
    "redis_good",
    "test_ca",
]


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """The session's throw-away certificate authority; clients trust ``test_ca.ca_file``.

    Every good server certificate of the test bed is issued by it::

        def test_x(test_ca):
            files = test_ca.issue("web", ("localhost", "127.0.0.1"))
    """
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def pg_good(test_ca: TestCA) -> Iterator[Instance]:
    """A well configured PostgreSQL (TLS, SCRAM, unprivileged ``app`` role); see ``launch_postgres``."""
    yield from serve(launch_postgres("good", test_ca))


@pytest.fixture(scope="session")
def pg_bad(test_ca: TestCA) -> Iterator[Instance]:
    """A badly configured PostgreSQL (no TLS, md5, superuser ``app``); see ``launch_postgres``."""
    yield from serve(launch_postgres("bad", test_ca))


@pytest.fixture(scope="session")
def mariadb_good(test_ca: TestCA) -> Iterator[Instance]:
    """A well configured MariaDB (TLS required, DML-only ``app`` user); see ``launch_mariadb``."""
    yield from serve(launch_mariadb("good", test_ca))


@pytest.fixture(scope="session")
def mariadb_bad(test_ca: TestCA) -> Iterator[Instance]:
    """A badly configured MariaDB (no TLS, ``app`` with ALL PRIVILEGES, anonymous user); see ``launch_mariadb``."""
    yield from serve(launch_mariadb("bad", test_ca))


@pytest.fixture(scope="session")
def redis_good() -> Iterator[Instance]:
    """A well configured Redis cache (ACL user ``app``, maxmemory with allkeys-lru); see ``launch_redis``."""
    yield from serve(launch_redis("good", role="cache"))


@pytest.fixture(scope="session")
def redis_bad() -> Iterator[Instance]:
    """A badly configured Redis cache (no auth, no maxmemory, protected mode off); see ``launch_redis``."""
    yield from serve(launch_redis("bad", role="cache"))


@pytest.fixture(scope="session")
def redis_broker_good() -> Iterator[Instance]:
    """A well configured Redis broker (noeviction, append-only file); see ``launch_redis``."""
    yield from serve(launch_redis("good", role="broker"))
