"""Session fixtures for background work: a private RabbitMQ node, Celery setups, BullMQ
workers and Sidekiq processes, good and bad (imported by ``tests/conftest.py``; each starts only when a test asks).

Each Redis setup gets a Redis of its own (``launch_redis("good", role="broker")``), so queues,
RedBeat keys and Celery's broadcast channel never mix; the RabbitMQ setups share one node, one
vhost each.  Everything stops at the end of the session, also when it failed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.base import Instance, serve
from tests.servers.bullmq import launch_bullmq
from tests.servers.celery_bed import CeleryBed, Variant, launch_celery
from tests.servers.rabbitmq import launch_rabbitmq
from tests.servers.redis import launch_redis
from tests.servers.sidekiq import launch_sidekiq

__all__ = [
    "bullmq_bad",
    "bullmq_good",
    "celery_rabbitmq_bad",
    "celery_rabbitmq_good",
    "celery_redis_bad",
    "celery_redis_good",
    "rabbitmq_workers",
    "sidekiq_bad",
    "sidekiq_good",
]


@pytest.fixture(scope="session")
def rabbitmq_workers() -> Iterator[Instance]:
    """A private RabbitMQ node with the management API (users ``admin`` and ``app``, no guest);
    see ``launch_rabbitmq``."""
    yield from serve(launch_rabbitmq("rabbitmq-workers"))


def _serve_bed(variant: Variant, broker: Instance) -> Iterator[CeleryBed]:
    bed = launch_celery(variant, broker)
    try:
        yield bed
    finally:
        bed.stop()


def _on_own_redis(variant: Variant) -> Iterator[CeleryBed]:
    broker = launch_redis("good", name=f"redis-celery-{variant}", role="broker")
    try:
        yield from _serve_bed(variant, broker)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def celery_redis_good() -> Iterator[CeleryBed]:
    """Celery on Redis, set up well: time limits, acks late, prefetch 1, both queues consumed,
    one RedBeat beat holding ``redbeat::lock`` whose ``cleanup`` has run; see ``launch_celery``."""
    yield from _on_own_redis("good")


@pytest.fixture(scope="session")
def celery_redis_bad() -> Iterator[CeleryBed]:
    """Celery on Redis, set up badly: no time limits, results never expire, ``emails`` without a
    consumer and 25 messages in it, a hung task, stale RedBeat entries and no beat; see ``launch_celery``."""
    yield from _on_own_redis("bad")


@pytest.fixture(scope="session")
def celery_rabbitmq_good(rabbitmq_workers: Instance) -> Iterator[CeleryBed]:
    """Celery on RabbitMQ (vhost ``celery-good``), set up well, one default-scheduler beat."""
    yield from _serve_bed("good", rabbitmq_workers)


@pytest.fixture(scope="session")
def celery_rabbitmq_bad(rabbitmq_workers: Instance) -> Iterator[CeleryBed]:
    """Celery on RabbitMQ (vhost ``celery-bad``), set up badly, with two default-scheduler beats."""
    yield from _serve_bed("bad", rabbitmq_workers)


@pytest.fixture(scope="session")
def bullmq_good() -> Iterator[Instance]:
    """BullMQ on Redis, healthy: queue ``emails`` with a named worker, every job completed, one
    job scheduled for later; see ``launch_bullmq``."""
    yield from serve(launch_bullmq("good"))


@pytest.fixture(scope="session")
def bullmq_bad() -> Iterator[Instance]:
    """BullMQ on Redis: backlog without worker, failing processor, stalled job, overdue delayed
    jobs; see ``launch_bullmq``."""
    yield from serve(launch_bullmq("bad"))


@pytest.fixture(scope="session")
def sidekiq_good() -> Iterator[Instance]:
    """Sidekiq on Redis, healthy: one process serving mailers and default, every job done, one
    mail scheduled for later; see ``launch_sidekiq``."""
    yield from serve(launch_sidekiq("good"))


@pytest.fixture(scope="session")
def sidekiq_bad() -> Iterator[Instance]:
    """Sidekiq on Redis: an hour-old backlog nobody serves, dead jobs, a hung job, one process of
    the two expected; see ``launch_sidekiq``."""
    yield from serve(launch_sidekiq("bad"))
