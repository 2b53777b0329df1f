"""The application's database connection pool, as its deployed configuration sets it.

pg-25 compares what every instance of the application may open (pool size plus overflow,
times the number of instances) with what the server accepts.  The application says how large
its pool is in its environment or configuration files, under names that differ per framework:
``DATABASE_POOL_SIZE``, ``DB_POOL_MAX``, ``SQLALCHEMY_POOL_SIZE`` + ``SQLALCHEMY_MAX_OVERFLOW``,
``spring.datasource.hikari.maximum-pool-size``, knex's ``pool: {max}``, Prisma's
``?connection_limit=`` in ``DATABASE_URL``.  The files are read as the cfg checks read them
(``app_settings.py``: dotenv lines; YAML or JSON flattened to the same names, here with camelCase
split: ``acquireTimeoutMillis`` is ``ACQUIRE_TIMEOUT_MILLIS``), and this module picks out the
pool's size and its wait timeout.  It only reads local files and never returns a value that is
not a number (no secret leaves it).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_deploycheck.targets.app_settings import DEFAULT_ENV_FILES, Setting, read_settings
from pytest_deploycheck.targets.base import Target
from pytest_deploycheck.targets.files import FilesTarget
from pytest_deploycheck.targets.reach import Reachability

# Names of other pools (HTTP clients, Redis, worker threads) that a pool-size pattern would also match.
_OTHER_POOLS = re.compile(r"REDIS|CACHE|HTTP|THREAD|WORKER|AMQP|RABBIT|CELERY|MONGO|ELASTIC|KAFKA|GRPC|SMTP|MAIL|QUEUE|BULL", re.I)
_SIZE = re.compile(r"(?:^|_)(?:POOL_?SIZE|POOL_?MAX|MAX_?POOL_?SIZE|MAXIMUM_POOL_SIZE|POOL_MAX_CONNS|MAX_OPEN_CONNS|CONNECTION_LIMIT"
                   r"|(?:DB|DATABASE|PG|POSTGRES|MYSQL)_MAX_CONNECTIONS)$", re.I)
_OVERFLOW = re.compile(r"(?:^|_)MAX_OVERFLOW$", re.I)
# The time a request waits for a free pooled connection before it fails (not idle or statement timeouts).
_TIMEOUT = re.compile(r"(?:^|_)(?:POOL_?TIMEOUT|POOL_ACQUIRE_TIMEOUT|ACQUIRE(?:_CONNECTION)?_TIMEOUT|CHECKOUT_TIMEOUT"
                      r"|HIKARI_CONNECTION_TIMEOUT|CONNECTION_ACQUIRE_TIMEOUT)(?:_MILLIS|_MS|_SECONDS|_S)?$", re.I)
# Query parameters of a database URL that size the pool (Prisma, pgx) or bound the wait for it.
_URL_SIZE = ("connection_limit", "pool_max_conns", "pool_size", "max_pool_size")
_URL_TIMEOUT = ("pool_timeout", "pool_acquire_timeout")


@dataclass
class PoolConfig:
    """What the configuration says about the database pool (numbers only)."""

    sizes: list[tuple[Setting, int]] = field(default_factory=list)
    overflows: list[tuple[Setting, int]] = field(default_factory=list)
    timeouts: list[tuple[Setting, float]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # pool settings whose value is not a number (a ${REFERENCE})
    files: list[str] = field(default_factory=list)

    @property
    def per_instance(self) -> int | None:
        """Connections one instance may open: the largest size named, plus the largest overflow."""
        if not self.sizes:
            return None
        return max(n for _, n in self.sizes) + max((n for _, n in self.overflows), default=0)


def read_pool_config(folder: Path, env_files: Sequence[str] = (), config_files: Sequence[str] = (), *,
                     name: str = "app_config") -> PoolConfig:
    """The pool settings of the configuration files under ``folder`` (those that exist).  A file
    that exists as something else (a FIFO, a folder), cannot be read, is over the size cap or
    is not YAML or JSON ends the check as an error naming it (``name (folder): ...``)."""
    files = _folder(folder, name)
    envs = files.regular_files(env_files or DEFAULT_ENV_FILES)
    configs = files.regular_files(config_files)
    config = PoolConfig(files=[n for n, _ in (*envs, *configs)])
    for setting in read_settings(files.label, envs, configs, split_camel=True, join_lists=False):
        _classify(config, setting)
    return config


def _folder(folder: Path, name: str) -> FilesTarget:
    """The folder as a ``files`` handle, so that which files exist is decided by the one rule
    ``FilesTarget.regular_files`` (pg-25 holds the files target's path, not its fixture)."""
    target = Target(kind="files", name=name, spec={"path": str(folder)}, roles=(), tags=(), timeout=0.0, thresholds={},
                    active_probes=False, source="")
    return FilesTarget(target, Reachability())


def _classify(config: PoolConfig, setting: Setting) -> None:
    key = setting.key.upper()
    if "://" in setting.value:
        _from_url(config, setting)
        return
    if _OTHER_POOLS.search(key):
        return
    kind = "size" if _SIZE.search(key) else "overflow" if _OVERFLOW.search(key) else "timeout" if _TIMEOUT.search(key) else None
    if kind is None:
        return
    number = _number(setting.value)
    if number is None:
        config.unreadable.append(f"{setting.where} is not a number")
    elif kind == "size":
        config.sizes.append((setting, int(number)))
    elif kind == "overflow":
        config.overflows.append((setting, int(number)))
    else:
        config.timeouts.append((setting, number))


def _from_url(config: PoolConfig, setting: Setting) -> None:
    """Pool parameters in a database URL's query (the URL's password is never kept)."""
    if _OTHER_POOLS.search(setting.key):
        return
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(setting.value).query))
    for name in _URL_SIZE:
        if name in query and (number := _number(query[name])) is not None:
            config.sizes.append((Setting(setting.file, setting.line, f"{setting.key}?{name}", query[name]), int(number)))
    for name in _URL_TIMEOUT:
        if name in query and (number := _number(query[name])) is not None:
            config.timeouts.append((Setting(setting.file, setting.line, f"{setting.key}?{name}", query[name]), number))


def _number(value: str) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:ms|s)?\s*", value)
    return float(match.group(1)) if match else None
