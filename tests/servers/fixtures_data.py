"""Session fixtures for the data stores of the test bed, and the test CA every server shares.

A server starts the first time a test asks for it (pytest runs a fixture only on request) and
stops at the end of the session, also when the session fails or is interrupted.  Under xdist
each worker starts its own copy, on its own ports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.base import Instance, free_port, serve
from tests.servers.certs import TestCA
from tests.servers.mariadb import launch_mariadb
from tests.servers.pgbouncer import launch_pgbouncer
from tests.servers.postgres import launch_postgres
from tests.servers.redis import launch_redis

__all__ = [
    "mariadb_bad",
    "mariadb_good",
    "pg_bad",
    "pg_good",
    "pgbouncer_bad",
    "pgbouncer_good",
    "redis_bad",
    "redis_broker_good",
    "redis_good",
    "redis_replica_bad",
    "redis_replica_good",
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


@pytest.fixture(scope="session")
def redis_replica_good(redis_good: Instance) -> Iterator[Instance]:
    """A well configured replica of ``redis_good``, its link up; see ``launch_redis(replica_of=...)``."""
    yield from serve(launch_redis("good", replica_of=redis_good))


@pytest.fixture(scope="session")
def redis_replica_bad() -> Iterator[Instance]:
    """A replica of a master that is not there (a port nothing listens on): its link is down."""
    yield from serve(launch_redis("bad", replica_of=free_port()))


@pytest.fixture(scope="session")
def pgbouncer_good(pg_good: Instance) -> Iterator[Instance]:
    """PgBouncer in front of ``pg_good``: transaction pooling, max_client_conn 200, nobody waiting;
    the entry names its read-only console user.  See ``launch_pgbouncer``."""
    yield from serve(launch_pgbouncer("good", pg_good))


@pytest.fixture(scope="session")
def pgbouncer_bad(pg_good: Instance) -> Iterator[Instance]:
    """PgBouncer in front of ``pg_good``: session pooling, max_client_conn 10000, a pool of one with
    two clients waiting behind the one that holds it.  See ``launch_pgbouncer``."""
    yield from serve(launch_pgbouncer("bad", pg_good))
