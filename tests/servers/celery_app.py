"""The Celery application the test bed's workers and beats run (``celery -A tests.servers.celery_app``).

Everything comes from the environment, so that a worker's command line (what ``ps`` shows)
never holds a password and one module serves every good and bad setup:

``DC_CELERY_BROKER_URL``
    The broker URL *with* its password (``redis://app:secret@127.0.0.1:6379/0``,
    ``amqp://app:secret@127.0.0.1:5672/vhost``).  Required.
``DC_CELERY_RESULT_BACKEND``
    Optional result backend URL (with its password).
``DC_CELERY_SETTINGS``
    A JSON object of Celery settings laid over the defaults below (``task_time_limit``,
    ``task_acks_late``, ``worker_prefetch_multiplier``, ``result_expires``, ...).
``DC_CELERY_SCHEDULE``
    A JSON object ``{"cleanup": {"task": "cleanup", "every": 10, "queue": "default"}}``: the
    periodic tasks beat sends, every ``every`` seconds.

``inspect conf`` shows every non-default setting; Celery masks the password in ``broker_url``
and ``result_backend`` there, but not in settings it does not know are secret, so no other
setting carries one (RedBeat reads the broker URL when ``redbeat_redis_url`` is not set).
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.exceptions import Reject

#: Task names are short and stable: a check names them in the inventory (``periodic_tasks``).
CLEANUP = "cleanup"
SEND_EMAIL = "send_email"
SLEEP = "sleep"
REJECT = "reject"


def _settings() -> dict[str, Any]:
    settings: dict[str, Any] = {
        "task_default_queue": "default",
        "task_routes": {SEND_EMAIL: {"queue": "emails"}},
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
    }
    backend = os.environ.get("DC_CELERY_RESULT_BACKEND")
    if backend:
        settings["result_backend"] = backend
    settings.update(json.loads(os.environ.get("DC_CELERY_SETTINGS") or "{}"))
    schedule = json.loads(os.environ.get("DC_CELERY_SCHEDULE") or "{}")
    if schedule:
        settings["beat_schedule"] = {
            name: {
                "task": spec["task"],
                "schedule": timedelta(seconds=float(spec["every"])),
                **({"options": {"queue": spec["queue"]}} if spec.get("queue") else {}),
            }
            for name, spec in schedule.items()
        }
    return settings


app = Celery("deploycheck_bed", broker=os.environ.get("DC_CELERY_BROKER_URL"))
app.conf.update(_settings())


@app.task(name=CLEANUP)  # type: ignore[untyped-decorator]  # celery ships no type hints
def cleanup() -> str:
    """The periodic housekeeping task beat sends."""
    return "cleaned"


@app.task(name=SEND_EMAIL)  # type: ignore[untyped-decorator]  # celery ships no type hints
def send_email(to: str) -> str:
    """A task routed to the ``emails`` queue."""
    return f"sent to {to}"


@app.task(name=SLEEP)  # type: ignore[untyped-decorator]  # celery ships no type hints
def sleep(seconds: float) -> float:
    """A task that runs for ``seconds``: long enough, it is the hung task a check must see."""
    time.sleep(seconds)
    return seconds


# acks_late on the task itself: a Reject only reaches the broker (basic.reject) for a message that
# is not acknowledged yet, and the bad setups acknowledge on receipt.
@app.task(name=REJECT, acks_late=True)  # type: ignore[untyped-decorator]  # celery ships no type hints
def reject(reason: str) -> None:
    """A task its worker gives up on without requeueing: RabbitMQ dead-letters the message (through
    the queue's dead-letter exchange), which is what a check of dead-lettered messages counts."""
    raise Reject(reason, requeue=False)
