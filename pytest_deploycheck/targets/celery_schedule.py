"""Where Celery beat keeps its schedule, read without running beat: RedBeat's Redis keys or the
default scheduler's schedule file.

RedBeat (``celery-redbeat``) stores each entry as a hash ``<prefix><name>`` with a JSON
``definition`` (task, schedule, enabled) and ``meta`` (``last_run_at``, ``total_run_count``);
datetimes and schedules are JSON objects tagged ``__type__``.  The beat that schedules holds
``<prefix>:lock`` (default ``redbeat::lock``), renewed every tick; standbys wait for it.

The default ``PersistentScheduler`` keeps a ``shelve`` file (``celerybeat-schedule``) whose
``entries`` are pickled ``celery.beat.ScheduleEntry`` objects.  It is read through a restricted
unpickler that builds only Celery's schedule classes and datetimes: a schedule file is data,
never code to run.
"""

from __future__ import annotations

import dbm
import io
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REDBEAT_PREFIX = "redbeat:"
#: Most bytes read of one RedBeat entry or schedule file value.
MAX_VALUE_BYTES = 1 << 20


@dataclass(frozen=True)
class PeriodicEntry:
    """One periodic task as the scheduler stores it."""

    name: str
    task: str | None
    schedule: str  # "every 10s", "crontab */5 * * * *"
    every_s: float | None  # interval schedules only
    last_run_at: datetime | None  # aware, UTC
    total_run_count: int | None
    enabled: bool = True
    crontab: Mapping[str, Any] | None = None  # minute, hour, day_of_week, day_of_month, month_of_year

    def overdue_s(self, now: datetime) -> float | None:
        """Seconds past the moment the next run was due (negative: not due yet); None without a last run
        or for a schedule whose next run time cannot be computed here."""
        if self.last_run_at is None:
            return None
        if self.every_s is not None:
            return (now - (self.last_run_at + timedelta(seconds=self.every_s))).total_seconds()
        if self.crontab is not None:
            next_due = next_crontab_run(self.crontab, self.last_run_at)
            return None if next_due is None else (now - next_due).total_seconds()
        return None

    def as_evidence(self, now: datetime) -> dict[str, Any]:
        overdue = self.overdue_s(now)
        return {
            "task": self.task, "schedule": self.schedule, "enabled": self.enabled, "total_run_count": self.total_run_count,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "overdue_s": round(overdue, 1) if overdue is not None else None,
        }


def next_crontab_run(spec: Mapping[str, Any], last_run_at: datetime) -> datetime | None:
    """When a crontab entry was next due after ``last_run_at`` (UTC), computed by Celery's own crontab."""
    try:
        from celery.schedules import crontab
    except ImportError:
        return None
    fields = {k: spec[k] for k in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year") if k in spec}
    # remaining_estimate is "time from now until due"; with now pinned to the last run it is the gap.
    schedule = crontab(**fields, nowfun=lambda: last_run_at)
    return last_run_at + schedule.remaining_estimate(last_run_at)  # type: ignore[no-any-return]


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------------------------- RedBeat


def _redbeat_object(d: dict[str, Any]) -> Any:
    kind = d.get("__type__")
    if kind == "datetime":
        zone = d.get("timezone", "UTC")
        if isinstance(zone, int | float):
            tz: Any = timezone(timedelta(minutes=zone / 60))
        else:
            from zoneinfo import ZoneInfo

            tz = ZoneInfo(str(zone))
        fields = {k: int(d[k]) for k in ("year", "month", "day", "hour", "minute", "second", "microsecond") if k in d}
        return datetime(tzinfo=tz, **fields)
    return d


def redbeat_entry(name: str, raw: Mapping[Any, Any]) -> PeriodicEntry | None:
    """A RedBeat hash (HGETALL) as an entry; None when the hash is empty."""
    values = {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in raw.items()}
    if not values:
        return None
    definition = json.loads(values.get("definition", "{}")[:MAX_VALUE_BYTES], object_hook=_redbeat_object)
    meta = json.loads(values.get("meta", "{}")[:MAX_VALUE_BYTES], object_hook=_redbeat_object)
    sched = definition.get("schedule") or {}
    every = cron = None
    if isinstance(sched, Mapping) and sched.get("__type__") == "interval":
        every = float(sched.get("every", 0))
        text = f"every {every:g}s"
    elif isinstance(sched, Mapping) and sched.get("__type__") == "crontab":
        cron = {k: v for k, v in sched.items() if k != "__type__"}
        text = "crontab " + " ".join(str(cron.get(k, "*")) for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
    else:
        text = str(sched.get("__type__", "unknown")) if isinstance(sched, Mapping) else "unknown"
    count = meta.get("total_run_count")
    return PeriodicEntry(
        name=name, task=definition.get("task"), schedule=text, every_s=every, last_run_at=_aware(meta.get("last_run_at")),
        total_run_count=int(count) if isinstance(count, int) else None, enabled=bool(definition.get("enabled", True)), crontab=cron,
    )


# --------------------------------------------------------------------------- schedule file

#: What a schedule file may build: Celery's entry and schedule classes, datetimes and zones.
_ALLOWED = {
    ("celery.beat", "ScheduleEntry"), ("celery.schedules", "schedule"), ("celery.schedules", "crontab"),
    ("celery.schedules", "solar"), ("datetime", "datetime"), ("datetime", "timedelta"), ("datetime", "timezone"),
    ("datetime", "date"), ("zoneinfo", "ZoneInfo"), ("zoneinfo._zoneinfo", "ZoneInfo"), ("builtins", "set"),
    ("builtins", "frozenset"), ("_codecs", "encode"), ("copyreg", "_reconstructor"), ("builtins", "object"),
    ("celery.utils.time", "LocalTimezone"), ("kombu.utils.objects", "cached_property"),
}


def _zoneinfo_getattr(owner: Any, name: str) -> Any:
    """The one ``getattr`` a pickled ZoneInfo needs (``getattr(ZoneInfo, "_unpickle")``), and no other."""
    from zoneinfo import ZoneInfo

    if owner is ZoneInfo and name == "_unpickle":
        return ZoneInfo._unpickle  # type: ignore[attr-defined]  # private, but what ZoneInfo.__reduce__ names
    raise pickle.UnpicklingError(f"the schedule file asks for {getattr(owner, '__name__', owner)}.{name}, which deploycheck does not load")


class _ScheduleUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _zoneinfo_getattr
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"the schedule file holds a {module}.{name}, which deploycheck does not load")
        return super().find_class(module, name)


def _open_shelf(path: Path) -> Any:
    """The shelve's dbm, read-only; gdbm opened without its lock ('ru'), since the running beat holds it."""
    kind = dbm.whichdb(str(path))
    if kind == "dbm.gnu":
        from dbm import gnu

        return gnu.open(str(path), "ru")
    if kind is None or kind == "":
        raise OSError(f"{path} is not a dbm/shelve file (the default scheduler's --schedule file)")
    return dbm.open(str(path), "r")


def schedule_file_entries(path: Path) -> dict[str, PeriodicEntry]:
    """The entries of a PersistentScheduler schedule file."""
    db = _open_shelf(path)
    try:
        raw = db[b"entries"] if b"entries" in db else db["entries"]
    finally:
        db.close()
    if len(raw) > MAX_VALUE_BYTES:
        raise OSError(f"{path}: the entries are {len(raw)} bytes, more than {MAX_VALUE_BYTES} deploycheck reads")
    entries = _ScheduleUnpickler(io.BytesIO(raw)).load()
    out: dict[str, PeriodicEntry] = {}
    for name, entry in dict(entries).items():
        sched = getattr(entry, "schedule", None)
        every = cron = None
        run_every = getattr(sched, "run_every", None)
        if type(sched).__name__ == "crontab":
            cron = {k: getattr(sched, f"_orig_{k}", "*") for k in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")}
            text = "crontab " + " ".join(str(cron[k]) for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
        elif isinstance(run_every, timedelta):
            every = run_every.total_seconds()
            text = f"every {every:g}s"
        else:
            text = type(sched).__name__
        count = getattr(entry, "total_run_count", None)
        out[str(name)] = PeriodicEntry(
            name=str(name), task=getattr(entry, "task", None), schedule=text, every_s=every,
            last_run_at=_aware(getattr(entry, "last_run_at", None)), total_run_count=int(count) if isinstance(count, int) else None,
            crontab=cron,
        )
    return out
