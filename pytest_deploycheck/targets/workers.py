"""The ``workers`` kind: background workers on a broker (Celery on Redis or RabbitMQ, BullMQ or Sidekiq on Redis).

How each thing is read, all without sending a task or changing a queue:

- Celery workers: remote-control ``inspect`` through the real ``celery`` library
  (``celery_inspect.py``): control messages on the broker's broadcast channel, answered by the
  workers, the way ``celery inspect`` and Flower see them.  Not data writes.
- queue depth: read-only Redis commands (``LLEN`` of the queue's list and its priority lists) or
  RabbitMQ's management HTTP API (``GET /api/queues/<vhost>/<queue>``; the broker user needs the
  ``management`` or ``monitoring`` tag);
- the beat schedule: RedBeat's Redis keys or the default scheduler's schedule file (``celery_schedule.py``);
- BullMQ: its Redis keys and ``CLIENT LIST`` (``bullmq_keys.py``), never its Lua scripts;
- Sidekiq: its Redis keys, as its own API and Web UI read them (``sidekiq_keys.py``).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.parse
from pathlib import Path
from typing import Any

from pytest_deploycheck.outcomes import NotApplicable, TargetError
from pytest_deploycheck.targets import bullmq_keys, celery_inspect, sidekiq_keys
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind, strip_userinfo
from pytest_deploycheck.targets.celery_schedule import REDBEAT_PREFIX, PeriodicEntry, redbeat_entry, schedule_file_entries
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.targets.sql import validate_dsn
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

REDIS_SCHEMES = ("redis", "rediss")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
#: kombu's Redis transport keeps a queue's priorities in extra lists: ``<queue>\x06\x16<n>``.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = ("3", "6", "9")
#: Most bytes read of one management API answer.
MAX_RESPONSE_BYTES = 4 << 20


class WorkersTarget(TargetHandle):
    """Workers on one broker: ``.celery()`` (the inspect snapshot), ``.queue_depth(q)``, ``.dead_letters()``,
    ``.periodic()`` (the beat schedule), ``.beat_lock()`` (RedBeat), ``.bullmq()`` (per-queue statistics),
    ``.sidekiq()`` (processes, queues, running jobs, retry and dead sets)."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._snapshot: celery_inspect.Snapshot | None = None
        self._redis: Any = None
        self._bullmq: dict[str, bullmq_keys.QueueStats] | None = None
        self._sidekiq: sidekiq_keys.Snapshot | None = None
        self._queues: dict[str, dict[str, Any]] = {}
        self._management: Any = None  # the management API's HTTP session, kept for the run

    # ------------------------------------------------------------------ what the inventory says

    @property
    def label(self) -> str:
        return f"{self.name} ({strip_userinfo(self.broker_url)})"

    @property
    def broker_url(self) -> str:
        return str(self.target.spec["broker"])

    @property
    def scheme(self) -> str:
        return urllib.parse.urlsplit(self.broker_url).scheme

    @property
    def on_redis(self) -> bool:
        return self.scheme in REDIS_SCHEMES

    @property
    def framework(self) -> str:
        return str(self.target.get("framework") or "celery")

    @property
    def queues(self) -> list[str]:
        return [str(q) for q in self.target.get("queues") or []]

    @property
    def periodic_tasks(self) -> list[str]:
        return [str(t) for t in self.target.get("periodic_tasks") or []]

    @property
    def expected_workers(self) -> int:
        return int(self.target.get("workers") or 1)

    @property
    def scheduler(self) -> str | None:
        """``redbeat`` or ``file``: where the beat schedule is read; None when there is none to read."""
        chosen = self.target.get("scheduler")
        if chosen:
            return str(chosen)
        if self.target.get("schedule_file"):
            return "file"
        return "redbeat" if self.on_redis and self.periodic_tasks else None

    def _secret_url(self) -> str:
        """The broker URL with the password from ``password`` (never shown: messages use ``label``)."""
        password = self.target.get("password")
        if password is None:
            return self.broker_url
        parts = urllib.parse.urlsplit(self.broker_url)
        user = urllib.parse.quote(urllib.parse.unquote(parts.username or ""), safe="")
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{user}:{urllib.parse.quote(str(password), safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def _broker_address(self) -> tuple[str, int]:
        """The broker's host and port (``address``, the scheme's default port filled in)."""
        endpoint = self.target.endpoint
        if endpoint is None:
            raise TargetError(f"{self.label}: the broker URL names no host")
        return endpoint

    def _tls_context(self) -> ssl.SSLContext:
        """A verifying client context: ``ca_bundle``, else the system's CAs."""
        ca = self.target.get("ca_bundle")
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def require_framework(self, framework: str, **why: str) -> None:
        """Not applicable, saying why (``why[<the target's framework>]``), when the target runs another framework."""
        if self.framework != framework:
            raise NotApplicable(f"{self.label}: framework {self.framework}: {why.get(self.framework, f'this check reads {framework} workers only')}")

    # ------------------------------------------------------------------ Celery

    def celery(self) -> celery_inspect.Snapshot:
        """The workers' replies to ``inspect`` (ping, stats, conf with defaults, active, active_queues,
        scheduled), taken once per run."""
        if self._snapshot is None:
            errors = celery_inspect.connection_errors(self.label)
            ssl_options: dict[str, Any] | None = None
            if self.scheme in ("rediss", "amqps"):
                ca = self.target.get("ca_bundle")
                if self.scheme == "rediss":
                    ssl_options = {"ssl_cert_reqs": ssl.CERT_REQUIRED, **({"ssl_ca_certs": str(ca)} if ca else {})}
                else:
                    ssl_options = {"cert_reqs": ssl.CERT_REQUIRED, **({"ca_certs": str(ca)} if ca else {})}
            with self.reach.guard(self.target, unreachable=errors):
                self._snapshot = celery_inspect.take_snapshot(self._secret_url(), self.timeout, self.label, ssl_options)
        return self._snapshot

    def celery_workers(self) -> celery_inspect.Snapshot:
        """The snapshot, or an error when no worker answered (the checks that judge workers' settings need one)."""
        snapshot = self.celery()
        if not snapshot.workers:
            raise TargetError(f"{self.label}: no Celery worker answered ping within {self.timeout:g}s, so nothing to judge (see wrk-01)")
        return snapshot

    # ------------------------------------------------------------------ AMQP logins

    def amqp_login(self, userid: str, password: str, vhost: str = "/") -> str:
        """One AMQP connection to the broker's host and port as ``userid`` (with the target's TLS
        settings and timeout), closed at once: ``"refused"`` when the broker refuses the login,
        ``"accepted"`` when it authenticates (``"accepted; vhost refused"`` when only the vhost is
        denied).  Anything else (no answer, a closed socket) is an error: nothing was learned."""
        import amqp

        self.reach.raise_if_failed(self.target)
        host, port = self._broker_address()
        context: ssl.SSLContext | bool = self._tls_context() if self.scheme == "amqps" else False
        connection = amqp.Connection(host=f"{host}:{port}", userid=userid, password=password, virtual_host=vhost,
                                     ssl=context, connect_timeout=self.timeout, read_timeout=self.timeout,
                                     write_timeout=self.timeout, client_properties={"connection_name": "deploycheck login probe"})
        try:
            connection.connect()
        except amqp.exceptions.AccessRefused:
            outcome = "refused"
        except amqp.exceptions.NotAllowed:
            outcome = "accepted; vhost refused"
        except (OSError, amqp.exceptions.AMQPError) as exc:
            with contextlib.suppress(Exception):
                connection.collect()
            raise TargetError(f"{self.label}: logging in as {userid}: no answer to judge: {first_line(exc) or type(exc).__name__}") from None
        else:
            outcome = "accepted"
            with contextlib.suppress(Exception):
                connection.close()  # at once, before any channel is opened
        with contextlib.suppress(Exception):
            connection.collect()
        return outcome

    # ------------------------------------------------------------------ TLS

    def tls_handshake(self) -> dict[str, str]:
        """One TLS handshake with the broker's host and port (amqps:// default 5671, rediss:// 6379),
        verifying its certificate and host name against ``ca_bundle`` (else the system's CAs), closed at
        once: {"version", "cipher", "issuer", "expires"}.  A handshake that fails (an untrusted or
        expired certificate, no TLS on that port, only protocols older than TLS 1.2) raises
        ``ssl.SSLError``; no connection is a TargetError."""
        import socket

        self.reach.raise_if_failed(self.target)
        host, port = self._broker_address()
        context = self._tls_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            raw = socket.create_connection((host, port), timeout=self.timeout)
        except OSError as exc:
            raise TargetError(f"{self.label}: cannot connect to {host}:{port}: {first_line(exc) or type(exc).__name__}") from None
        try:
            with raw, context.wrap_socket(raw, server_hostname=host) as tls:
                cert: dict[str, Any] = dict(tls.getpeercert() or {})
                version, cipher = str(tls.version()), str((tls.cipher() or ("?",))[0])
        except ssl.SSLError:
            raise  # the broker answered, and what it answered is the finding
        except OSError as exc:  # a timeout or a reset mid-handshake: nothing learned
            raise TargetError(f"{self.label}: TLS handshake with {host}:{port}: {first_line(exc) or type(exc).__name__}") from None
        issuer = ", ".join(f"{pair[0]}={pair[1]}" for rdn in cert.get("issuer", ()) for pair in rdn)
        return {"version": version, "cipher": cipher, "issuer": issuer, "expires": str(cert.get("notAfter", "?"))}

    # ------------------------------------------------------------------ Redis

    def redis(self) -> Any:
        """A redis-py client on the broker (Redis brokers only), with the target's timeouts."""
        import redis

        if not self.on_redis:
            raise TargetError(f"{self.label}: not a Redis broker")
        if self._redis is None:
            kwargs: dict[str, Any] = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout, "decode_responses": True}
            if self.target.get("password") is not None:
                kwargs["password"] = str(self.target.get("password"))
            if self.target.get("ca_bundle"):
                kwargs["ssl_ca_certs"] = str(self.target.get("ca_bundle"))
            self._redis = redis.Redis.from_url(self.broker_url, **kwargs)
        return self._redis

    def redis_read(self, work: Any) -> Any:
        """``work(client)`` under the reachability guard; a command the login may not run is an error naming it."""
        import redis

        try:
            with self.reach.guard(self.target, unreachable=(redis.ConnectionError, redis.TimeoutError), unusable=(redis.AuthenticationError,)):
                return work(self.redis())
        except redis.exceptions.NoPermissionError as exc:
            raise TargetError(f"{self.label}: the broker login may not run a read this check needs ({first_line(exc)}); "
                              "grant it read access (+@read, +client|list for BullMQ)") from None
        except redis.exceptions.ResponseError as exc:
            raise TargetError(f"{self.label}: {first_line(exc)}") from None

    # ------------------------------------------------------------------ RabbitMQ management API

    def management(self, path: str) -> Any:
        """GET a management API path (``/api/queues/<vhost>``) as the broker user; parsed JSON."""
        import requests

        from pytest_deploycheck.targets import http_transport

        base = self.target.get("management_url")
        if not base:
            raise TargetError(f"{self.label}: RabbitMQ queue depth is read through the management API; set management_url "
                              "(e.g. http://rabbit:15672) and give the broker user the management or monitoring tag")
        parts = urllib.parse.urlsplit(self.broker_url)
        auth = (urllib.parse.unquote(parts.username or "guest"), str(self.target.get("password") or ""))
        verify: Any = str(self.target.get("ca_bundle")) if self.target.get("ca_bundle") else True
        with self.reach.guard(self.target, unreachable=(requests.ConnectionError, requests.Timeout)):
            if self._management is None:
                self._management = http_transport.bounded_session()
            # One deadline (the timeout) for connect, headers and body: a management API that
            # drips its answer costs one timeout, not one per read.
            response = http_transport.request(self._management, "GET", str(base).rstrip("/") + path, deadline=self.timeout,
                                              body_limit=MAX_RESPONSE_BYTES, auth=auth, verify=verify)
        body = response.content
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise TargetError(f"{self.label}: the management API refused the broker user ({response.status_code}); "
                              "give it the management or monitoring tag")
        if response.status_code != 200:
            raise TargetError(f"{self.label}: management API {path} answered {response.status_code}")
        if getattr(response, "deploycheck_truncated", False):
            raise TargetError(f"{self.label}: management API {path} answered more than {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise TargetError(f"{self.label}: management API {path} answered no JSON; is management_url RabbitMQ's management API?") from None

    @property
    def vhost(self) -> str:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.broker_url).path.lstrip("/"))
        return path or "/"

    def rabbit_queue(self, queue: str) -> dict[str, Any] | None:
        """The management API's record of ``queue`` (None when it does not exist)."""
        if queue not in self._queues:
            vhost = urllib.parse.quote(self.vhost, safe="")
            self._queues[queue] = self.management(f"/api/queues/{vhost}/{urllib.parse.quote(queue, safe='')}") or {}
        return self._queues[queue] or None

    # ------------------------------------------------------------------ queues, either broker

    def queue_depth(self, queue: str) -> dict[str, Any]:
        """``{"ready": n, "unacked": n|None, "consumers": n|None, "exists": bool, "source": ...}`` for a Celery queue."""
        if self.on_redis:
            names = [queue, *(f"{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS)]

            def read(client: Any) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                for name in names:
                    pipe.llen(name)
                return list(pipe.execute())

            lengths = self.redis_read(read)
            return {"ready": int(sum(lengths)), "unacked": None, "consumers": None, "exists": True, "source": "LLEN (Redis list per queue and priority)"}
        record = self.rabbit_queue(queue)
        if record is None:
            return {"ready": 0, "unacked": 0, "consumers": 0, "exists": False, "source": "RabbitMQ management API"}
        return {"ready": int(record.get("messages_ready") or 0), "unacked": int(record.get("messages_unacknowledged") or 0),
                "consumers": int(record.get("consumers") or 0), "exists": True, "source": "RabbitMQ management API"}

    def dead_letter_exchange(self, queue: str) -> str | None:
        """The exchange RabbitMQ dead-letters ``queue`` to: its ``x-dead-letter-exchange`` argument, else its policy's."""
        record = self.rabbit_queue(queue) or {}
        arguments = record.get("arguments") or {}
        policy = record.get("effective_policy_definition") or {}
        value = arguments.get("x-dead-letter-exchange") or (policy.get("dead-letter-exchange") if isinstance(policy, dict) else None)
        return str(value) if value else None

    def dead_letter_queues(self) -> dict[str, int]:
        """Dead-letter queue -> messages in it: those named in ``dead_letter_queues`` plus every queue bound
        to a required queue's dead-letter exchange (RabbitMQ only)."""
        if self.on_redis:
            raise NotApplicable(f"{self.label}: a Redis broker does not dead-letter messages (kombu's Redis transport has no "
                                "dead-letter exchange); failed Celery tasks are only in the result backend")
        names = [str(q) for q in self.target.get("dead_letter_queues") or []]
        vhost = urllib.parse.quote(self.vhost, safe="")
        for exchange in sorted({x for q in self.queues if (x := self.dead_letter_exchange(q))}):
            for binding in self.management(f"/api/exchanges/{vhost}/{urllib.parse.quote(exchange, safe='')}/bindings/source") or []:
                if binding.get("destination_type") == "queue" and binding.get("destination") not in names:
                    names.append(str(binding["destination"]))
        out: dict[str, int] = {}
        for name in names:
            record = self.rabbit_queue(name)
            if record is None:
                raise TargetError(f"{self.label}: dead-letter queue {name} does not exist on vhost {self.vhost}")
            out[name] = int(record.get("messages") or 0)
        return out

    # ------------------------------------------------------------------ beat

    def periodic(self) -> tuple[str, dict[str, PeriodicEntry]]:
        """(where it was read, name -> entry) of the beat schedule: RedBeat keys or the schedule file."""
        scheduler = self.scheduler
        if scheduler == "redbeat":
            prefix = self.redbeat_prefix
            names = self.periodic_tasks

            def read(client: Any) -> list[Any]:
                pipe = client.pipeline(transaction=False)
                for name in names:
                    pipe.hgetall(prefix + name)
                return list(pipe.execute())

            raws = self.redis_read(read)
            entries = {name: entry for name, raw in zip(names, raws, strict=True) if (entry := redbeat_entry(name, raw)) is not None}
            return f"RedBeat keys {prefix}<name>", entries
        if scheduler == "file":
            path = Path(str(self.target.get("schedule_file")))
            try:
                return f"schedule file {path}", schedule_file_entries(path)
            except (OSError, ValueError, EOFError, Exception) as exc:  # noqa: BLE001 - dbm and pickle raise their own types
                raise TargetError(f"{self.label}: could not read the beat schedule file {path}: {first_line(exc)}") from None
        raise TargetError(f"{self.label}: no beat schedule to read; set scheduler: redbeat (Redis) or schedule_file "
                          "(the default scheduler's celerybeat-schedule file)")

    @property
    def redbeat_prefix(self) -> str:
        return str(self.target.get("redbeat_prefix") or REDBEAT_PREFIX)

    def beat_lock(self) -> tuple[bool, int]:
        """(whether a beat holds RedBeat's lock, its remaining TTL in ms)."""
        key = self.redbeat_prefix + ":lock"
        exists, ttl = self.redis_read(lambda c: c.pipeline(transaction=False).exists(key).pttl(key).execute())
        return bool(exists), int(ttl)

    # ------------------------------------------------------------------ BullMQ

    def bullmq(self) -> dict[str, bullmq_keys.QueueStats]:
        """Per required queue, its state read from BullMQ's keys (one CLIENT LIST for all)."""
        if self._bullmq is None:
            prefix = str(self.target.get("prefix") or bullmq_keys.DEFAULT_PREFIX)
            grace = int(float(self.threshold("delayed_overdue_grace_s")) * 1000)

            def read(client: Any) -> dict[str, bullmq_keys.QueueStats]:
                workers = bullmq_keys.workers_by_queue(client.client_list(), prefix)
                return {q: bullmq_keys.queue_stats(client, q, prefix=prefix, workers=workers, overdue_grace_ms=grace) for q in self.queues}

            self._bullmq = self.redis_read(read)
        return self._bullmq

    # ------------------------------------------------------------------ Sidekiq

    def sidekiq(self) -> sidekiq_keys.Snapshot:
        """Sidekiq's processes, the required queues, the running jobs and its sets, read once per run."""
        if self._sidekiq is None:
            prefix = str(self.target.get("prefix") or "")
            queues = self.queues
            self._sidekiq = self.redis_read(lambda client: sidekiq_keys.snapshot(client, queues, prefix=prefix))
        return self._sidekiq

    def close(self) -> None:
        for client in (self._redis, self._management):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()


def validate(ld: YamlLoader, spec: Any, raw: Any, keypath: str) -> None:
    """The broker's scheme fits the framework; the schedule source fits the broker."""
    validate_dsn("broker")(ld, spec, raw, keypath)
    scheme = urllib.parse.urlsplit(str(spec.get("broker", ""))).scheme
    line = raw["broker"].line if "broker" in raw else 0
    framework = spec.get("framework") or "celery"
    if scheme not in (*REDIS_SCHEMES, *AMQP_SCHEMES):
        ld.problem(line, f"{keypath}.broker", f"scheme {scheme or '(none)'}:// is not a broker deploycheck reads; use redis://, rediss://, amqp:// or amqps://")
        return
    if framework in ("bullmq", "sidekiq") and scheme not in REDIS_SCHEMES:
        ld.problem(line, f"{keypath}.broker", f"{'BullMQ' if framework == 'bullmq' else 'Sidekiq'} runs on Redis: use a redis:// or rediss:// URL")
    if framework != "celery":
        for key in ("scheduler", "schedule_file", "management_url", "worker_cpus", *(("periodic_tasks",) if framework == "bullmq" else ())):
            if key in raw:
                _problem(ld, raw, keypath, key, f"is read for Celery workers only; framework {framework} does not use it: remove it")
    if spec.get("scheduler") == "redbeat" and scheme not in REDIS_SCHEMES:
        _problem(ld, raw, keypath, "scheduler", "RedBeat keeps its schedule in Redis; on RabbitMQ name the schedule_file")
    if spec.get("scheduler") == "file" and not spec.get("schedule_file"):
        _problem(ld, raw, keypath, "scheduler", "scheduler: file reads the schedule_file key; add it")
    if spec.get("periodic_tasks") and scheme not in REDIS_SCHEMES and not spec.get("schedule_file"):
        _problem(ld, raw, keypath, "periodic_tasks", "on RabbitMQ the beat schedule is read from the default scheduler's file: add schedule_file")
    if spec.get("management_url") and scheme in REDIS_SCHEMES:
        _problem(ld, raw, keypath, "management_url", "is RabbitMQ's management API; a Redis broker is read directly, remove it")


def _problem(ld: YamlLoader, raw: Any, keypath: str, key: str, message: str) -> None:
    node: YamlNode | None = raw.get(key)
    ld.problem(node.line if node is not None else 0, f"{keypath}.{key}", message)


FIELDS: dict[str, Field] = {
    "broker": Field("url", "broker URL without the password: redis://, rediss://, amqp:// or amqps:// (vhost as the path)", required=True),
    "password": Field("str", "the broker user's password (use ${VAR}); also the management API's"),
    "framework": Field("choice", "what runs the workers (default celery)", choices=("celery", "bullmq", "sidekiq")),
    "queues": Field("list[str]", "queues that must be served: each needs a consumer, and its backlog is judged"),
    "periodic_tasks": Field("list[str]", "beat schedule entries (Celery) that must be scheduled and have run on time; "
                                         "Sidekiq: its periodic jobs, which this version cannot read (an error, to attest instead)"),
    "workers": Field("int", "least number of workers that must answer (Celery), be connected (BullMQ) or send heartbeats (Sidekiq processes) (default 1)"),
    "worker_cpus": Field("int", "CPUs of each worker host, for the concurrency check (Celery does not report it)"),
    "management_url": Field("url", "RabbitMQ management API (http://rabbit:15672), for queue depth and dead-lettering; "
                                   "the broker user needs the management or monitoring tag"),
    "scheduler": Field("choice", "where beat keeps its schedule: redbeat (Redis keys) or file (the default scheduler's "
                                 "schedule_file) (default: file when schedule_file is set, else redbeat on Redis)", choices=("redbeat", "file")),
    "schedule_file": Field("path", "the default scheduler's celerybeat-schedule (shelve) file, readable from where deploycheck runs"),
    "redbeat_prefix": Field("str", "RedBeat's redbeat_key_prefix (default redbeat:)"),
    "dead_letter_queues": Field("list[str]", "dead-letter queues to count besides those bound to the required queues' dead-letter exchange"),
    "prefix": Field("str", "BullMQ key prefix (default bull); Sidekiq: its redis-namespace, if it uses one (default none)"),
    "ca_bundle": Field("path", "CA bundle for rediss://, amqps:// and an https management API", must_exist=True),
}


def address(target: Target) -> tuple[str, int] | None:
    return url_address(str(target.spec["broker"]), {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "pyamqp": 5672})


KIND = TargetKind(
    name="workers", fixture="workers", handle=WorkersTarget, fields=FIELDS, address=address, validate=validate,
    summary="""A ``workers`` target: background workers on a broker.  Celery: ``workers.celery()`` (one ``inspect``
    snapshot per run: control messages on the broker, not data writes), ``workers.queue_depth(q)`` (LLEN or the
    RabbitMQ management API), ``workers.periodic()`` (RedBeat keys or the schedule file); BullMQ: ``workers.bullmq()``;
    Sidekiq: ``workers.sidekiq()``.""",
)
