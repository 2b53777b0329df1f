"""Redis: every ``redis`` target, as the application's login sees it.

Who may connect (authentication, the default user, network exposure, TLS), what the app's user
may do, whether memory and persistence suit the instance's ``role`` (cache, broker, queue,
session) and whether the server version is still supported.  Every command is read-only:
``INFO``, ``CONFIG GET``, ``ACL WHOAMI/GETUSER/DRYRUN``; a dangerous command is only ever
*simulated* with ``ACL DRYRUN``, never sent.

Several checks need introspection rights the application's own user should not have
(``+config|get``, ``+acl|getuser``, ``+acl|dryrun``): without them they end as not applicable
and name the permission.  Give deploycheck its own read-only ACL user, e.g.
``ACL SETUSER deploycheck on >PASSWORD -@all +@connection +info +config|get +acl|whoami
+acl|getuser +acl|dryrun``, and name the application's user in ``app_user``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import urllib.parse

import pytest

from pytest_deploycheck import TargetError, fail, not_applicable, require

pytestmark = pytest.mark.section("redis", "Redis")

#: Eviction policies that may drop keys: fine for a cache, data loss for a broker, queue or session store.
EVICTING = ("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
KEEPS_DATA = ("broker", "queue", "session")

#: End of life per release line (major, minor), from endoflife.date/redis, which follows Redis
#: Ltd.'s published lifecycle.  None: no end of life announced when the table was written.
#: Versions older than the oldest line are past end of life; newer ones are taken as supported.
REDIS_EOL: dict[tuple[int, int], dt.date | None] = {
    (8, 2): None,
    (8, 0): None,
    (7, 4): dt.date(2026, 11, 30),
    (7, 2): dt.date(2026, 2, 28),
    (7, 0): dt.date(2024, 7, 29),
    (6, 2): dt.date(2025, 2, 28),
    (6, 0): dt.date(2022, 5, 31),
    (5, 0): dt.date(2022, 4, 27),
}
EOL_SOURCE = "endoflife.date/redis"

#: Commands the application's user must not be able to run; each is only simulated (ACL DRYRUN).
DANGEROUS: tuple[tuple[str, ...], ...] = (
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "SET", "dir", "/tmp"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN",),
    ("MODULE", "LOAD", "/tmp/module.so"),
    ("REPLICAOF", "NO", "ONE"),
    ("ACL", "SETUSER", "deploycheck-probe"),
)


def _config(redis, name: str) -> str:
    """One CONFIG GET value (n/a naming +config|get when the login may not read it)."""
    reply = redis.permitted("CONFIG", "GET", name)
    if isinstance(reply, dict):
        return str(reply.get(name, ""))
    values = list(reply or [])
    return str(values[1]) if len(values) > 1 else ""


def _is_loopback_host(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_loopback for info in infos)


def _exposed(address: str) -> bool:
    """Whether a ``bind`` address reaches beyond this host and its private networks."""
    address = address.lstrip("-")  # "-::1": bind if available
    if address in ("*", "0.0.0.0", "::", "::*"):
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # a host name: cannot tell, so not restricted
    return not (ip.is_loopback or ip.is_private or ip.is_link_local)


@pytest.mark.check(
    "redis-01", "Authentication required", severity="critical", refs=("Redis security: authentication", "CIS Redis: requirepass / ACL"),
                   answers=("^redis auth|authentication|requirepass token|password", "redis password|auth|authentication|requirepass|protect broker?", "broker password|auth|authentication",
                            "redis connection|connections|access security|secured|secure")
)
def test_authentication_required(redis, evidence):
    """A Redis that answers anyone who can reach it hands out every key and, with default
    rights, the server itself (CONFIG SET dir + SAVE writes files).  Passes when a new
    connection that presents no credentials is refused (NOAUTH); fails when it is served."""
    reply = redis.anonymous("PING")
    evidence.record(anonymous_reply=reply)
    if not reply:
        raise TargetError(f"{redis.label}: closed the connection without answering an unauthenticated PING")
    require(
        not reply.startswith("+"),
        redis,
        "a connection without credentials was served (PING answered PONG)",
        "such a connection refused with NOAUTH (requirepass or ACL users with the default user off)",
    )
    if not reply.startswith(("-NOAUTH", "-DENIED", "-WRONGPASS")):
        raise TargetError(f"{redis.label}: unexpected answer to an unauthenticated PING: {reply[:80]!r}")


@pytest.mark.check("redis-02", "Default user disabled or password-protected", severity="high", refs=("Redis ACL: the default user",),
                   answers=("redis default user disabl|password|nopass", "redis acl"))
def test_default_user(redis, evidence):
    """Every connection starts as the ``default`` user; with ``nopass`` it is the whole server
    for anyone.  Passes when ``default`` is off or requires a password.  Needs ACL GETUSER
    (+acl|getuser) for the login; not applicable without it."""
    info = redis.permitted("ACL", "GETUSER", "default")
    if not info:
        not_applicable(f"{redis.label}: the server has no 'default' user")
    flags = [str(f) for f in (info.get("flags") if isinstance(info, dict) else _pairs(info).get("flags", ()))]
    evidence.record(default_user_flags=flags)  # flags only: GETUSER also returns password hashes
    if "off" in flags:
        return
    require(
        "nopass" not in flags,
        redis,
        "the default user is on with nopass (anyone is let in with all its rights)",
        "'user default off' or a password for the default user",
    )


def _pairs(reply) -> dict:
    items = list(reply)
    return {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


@pytest.mark.check(
    "redis-03", "Access restricted to trusted networks", severity="high", refs=("Redis security: network security, protected mode",),
                   answers=("redis access|bind|bound|listen|listens|network|exposed|public|protected restrict|trusted|private|internal|localhost|firewall|exposed|public|internet",
                            "redis protected mode", "redis bind")
)
def test_network_restricted(redis, evidence):
    """Redis listening on a public interface is found by internet-wide scans within hours.
    Passes when protected mode is on and every ``bind`` address is loopback or private;
    fails on ``protected-mode no`` or a wildcard/public bind address.  Needs CONFIG GET
    (+config|get); not applicable without it (INFO does not show either setting)."""
    protected = _config(redis, "protected-mode")
    bind = _config(redis, "bind").split()
    evidence.record(protected_mode=protected, bind=bind)
    problems = []
    if protected.lower() != "yes":
        problems.append(f"protected-mode is {protected or 'unset'}")
    exposed = [a for a in bind if _exposed(a)] if bind else ["all interfaces (no bind)"]
    if exposed:
        problems.append(f"bound to {', '.join(exposed)}")
    require(not problems, redis, "; ".join(problems), "protected-mode yes and bind limited to loopback or private addresses")


@pytest.mark.check(
    "redis-04", "Memory cap and eviction policy fit the role", severity="high", refs=("Redis: key eviction", "Celery: Redis broker caveats"),
                   answers=("redis maxmemory|eviction|memory_limit|resource_limit|memory_limits|memory policy|limit|max|cap?",
                            "redis maxmemory", "noeviction", "redis no eviction",
                            "redis cache allkeys_lru|allkeys|lru|volatile|eviction|noeviction",
                            "allkeys_lru|allkeys lru", "maxmemory policy|eviction? allkeys_lru|allkeys|lru|noeviction|volatile?")
)
def test_maxmemory_policy(redis, evidence):
    """Without ``maxmemory`` Redis grows until the kernel kills it.  A cache must evict
    (``allkeys-*`` or ``volatile-*``); a broker, queue or session store must never silently drop
    keys (``noeviction``: writes fail loudly instead).  Read from INFO memory."""
    info = redis.permitted("INFO", "memory")
    maxmemory = int(info.get("maxmemory", 0))
    policy = str(info.get("maxmemory_policy", ""))
    evidence.record(role=redis.role, maxmemory=maxmemory, maxmemory_policy=policy)
    wanted = "noeviction" if redis.role in KEEPS_DATA else "an allkeys-* or volatile-* policy"
    fits = policy == "noeviction" if redis.role in KEEPS_DATA else policy in EVICTING
    problems = []
    if maxmemory <= 0:
        problems.append("maxmemory is 0 (no limit)")
    if not fits:
        problems.append(f"maxmemory-policy is {policy or 'unknown'} for role {redis.role}")
    require(not problems, redis, "; ".join(problems), f"maxmemory set and {wanted} for role {redis.role}")


@pytest.mark.check("redis-05", "Persistence on for a broker or queue", severity="high", refs=("Redis persistence: RDB and AOF",),
                   answers=("redis persistence|aof|appendonly|rdb|durable|durability|snapshot|backup",
                            "broker|queue persistence|durable|durability redis?"),
                   answers_unless=("rabbitmq|amqp|kafka|sqs|nats",))  # another broker's durability is not Redis persistence
def test_persistence(redis, evidence):
    """Queued jobs live only in Redis: a restart without persistence loses them.  For role
    broker or queue: passes with append-only files or scheduled RDB snapshots whose last write
    succeeded; not applicable to caches and session stores.  Whether RDB snapshots are
    scheduled needs CONFIG GET save (+config|get) when AOF is off."""
    if redis.role not in ("broker", "queue"):
        not_applicable(f"{redis.name}: role {redis.role}; persistence is required of a broker or queue")
    info = redis.permitted("INFO", "persistence")
    aof = int(info.get("aof_enabled", 0)) == 1
    evidence.record(
        aof_enabled=aof, rdb_last_bgsave_status=info.get("rdb_last_bgsave_status"), aof_last_write_status=info.get("aof_last_write_status")
    )
    if aof:
        status = str(info.get("aof_last_write_status", "ok"))
        require(status == "ok", redis, f"append-only file on but its last write failed ({status})", "aof_last_write_status ok")
        return
    save = _config(redis, "save")
    evidence.record(save=save)
    require(
        save.strip(), redis, 'appendonly no and no RDB save schedule (save "")', f"appendonly yes or a save schedule for role {redis.role}"
    )
    status = str(info.get("rdb_last_bgsave_status", "ok"))
    require(status == "ok", redis, f"RDB snapshots scheduled ({save}) but the last one failed ({status})", "rdb_last_bgsave_status ok")


@pytest.mark.check("redis-06", "Memory use below the threshold", severity="medium",
                   answers=("redis memory_usage|memory use|usage|headroom|below",))
def test_memory_use(redis, evidence):
    """Close to ``maxmemory`` a cache churns and a broker refuses writes.  Passes when used
    memory is at most ``redis_memory_max_pct`` of maxmemory (of the machine's memory when no
    maxmemory is set; redis-04 reports that)."""
    info = redis.permitted("INFO", "memory")
    used = int(info.get("used_memory", 0))
    limit = int(info.get("maxmemory", 0))
    basis = "maxmemory"
    if limit <= 0:
        limit, basis = int(info.get("total_system_memory", 0)), "the machine's memory (no maxmemory)"
    if limit <= 0:
        not_applicable(f"{redis.name}: neither maxmemory nor total_system_memory is known", unexamined=True)
    pct = 100.0 * used / limit
    max_pct = redis.threshold("redis_memory_max_pct")
    evidence.record(used_memory=used, limit=limit, basis=basis, used_pct=round(pct, 2))
    require(pct <= max_pct, redis, f"{_mib(used)} used, {pct:.1f}% of {basis} ({_mib(limit)})", f"<= {max_pct}%")


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


@pytest.mark.check("redis-07", "Server version still supported", severity="medium", refs=(EOL_SOURCE,),
                   answers=("redis version|eol|support|supported|release", "redis installed running|version?"),
                   answers_unless=("pin", "same|match|parity|consistent|mismatch", "separate|dedicated|container"))
def test_version_supported(redis, evidence):
    """A release line past its end of life gets no security fixes.  Passes when the version's
    line has no end of life yet (table: endoflife.date/redis) or the inventory's
    ``supported_until`` (a distribution that backports fixes) is still ahead."""
    info = redis.permitted("INFO", "server")
    if "valkey_version" in info:
        not_applicable(f"{redis.name}: Valkey {info['valkey_version']}; the end-of-life table covers Redis only")
    version = str(info.get("redis_version", ""))
    today = dt.datetime.now(dt.timezone.utc).date()
    evidence.record(redis_version=version, eol_table=EOL_SOURCE)
    declared = redis.setting("supported_until")
    if declared:
        try:
            until = dt.date.fromisoformat(str(declared))
        except ValueError:
            raise TargetError(f"{redis.label}: redis.{redis.name}.supported_until: expected YYYY-MM-DD, got {declared!r}") from None
        evidence.record(supported_until=str(until), basis="inventory supported_until")
        require(until >= today, redis, f"Redis {version}: vendor support declared until {until}, past", f"support beyond {today}")
        return
    try:
        line = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        raise TargetError(f"{redis.label}: cannot read the server version {version!r}") from None
    if line in REDIS_EOL:
        eol = REDIS_EOL[line]
    elif line > max(REDIS_EOL):
        eol = None
    else:
        eol = min(d for d in REDIS_EOL.values() if d is not None)  # older than every line in the table
    evidence.record(end_of_life=str(eol) if eol else None)
    if eol is not None:
        require(
            eol >= today,
            redis,
            f"Redis {version}: release line {line[0]}.{line[1]} reached end of life on {eol} ({EOL_SOURCE})",
            "a supported release line (or supported_until for a vendor-maintained build)",
        )


@pytest.mark.check(
    "redis-08", "Dangerous commands denied to the application", severity="high", refs=("Redis ACL: command categories @admin @dangerous",),
                   answers=("redis dangerous|flushall|flushdb|config command|commands disabl|renam|denied|acl?", "rename command",
                            "redis no|disabl|renam|denied|block flushall|flushdb|keys|debug")
)
def test_dangerous_commands(redis, evidence):
    """An application user that may FLUSHALL, CONFIG SET or SHUTDOWN turns one injection bug
    into lost data or a taken-over server.  Each command is *simulated* with ACL DRYRUN for
    ``app_user`` (default: the login); passes when every one is denied.  Needs +acl|dryrun
    (Redis >= 7.0); not applicable without it."""
    user = str(redis.setting("app_user") or redis.permitted("ACL", "WHOAMI"))
    allowed = []
    for command in DANGEROUS:
        verdict = str(redis.permitted("ACL", "DRYRUN", user, *command))
        if verdict == "OK":
            allowed.append(" ".join(command[:2]) if command[0] in ("CONFIG", "DEBUG", "MODULE", "ACL") else command[0])
    evidence.record(app_user=user, allowed=allowed, simulated=[" ".join(c[:2]) for c in DANGEROUS])
    require(
        not allowed, redis, f"user {user} may run {', '.join(allowed)}", "these denied to the application's user (e.g. -@admin -@dangerous)"
    )


@pytest.mark.check("redis-09", "TLS for connections that leave the host", severity="medium", refs=("Redis: TLS support",),
                   answers=("^redis in_transit|transit encrypt|encryption|tls", "traffic|data|connection|connections|database|internal? encrypt|encrypted|encryption transit|wire|flight", "redis tls|encrypt|encryption|rediss connection?", "broker|cache tls|encrypt|encryption redis?",
                            "redis connection|connections security|secured|secure"),
                   answers_unless=("rabbitmq|amqp|amqps|celery|sidekiq|bullmq", "backup|backups"))  # the workers' broker connection is wrk-14's
def test_tls(redis, evidence):
    """Redis speaks plain text: a password and every value cross the network readable by
    anyone on the path.  For a target not on loopback, passes with a rediss:// URL over which a
    PING is answered, the server's certificate and host name verified (against ``ca_bundle``,
    else the system's CAs; a certificate that does not verify is an error); not applicable to a
    plain connection on loopback, where traffic never leaves the machine."""
    url = urllib.parse.urlsplit(str(redis.target.spec["url"]))
    host = url.hostname or ""
    evidence.record(scheme=url.scheme, host=host)
    if url.scheme == "rediss":
        redis.command("PING")
        evidence.record(tls="PING answered over TLS, certificate and host name verified")
        return
    if _is_loopback_host(host):
        not_applicable(f"{redis.name}: {host} is a loopback address; traffic never leaves the host")
    fail(redis, f"plain {url.scheme}:// to {host}, which is not on this host", "rediss:// (TLS) for a Redis reached over the network")


@pytest.mark.check("redis-10", "Cache hit ratio healthy", severity="medium", refs=("Redis INFO stats: keyspace_hits, keyspace_misses",),
                   answers=("cache hit rates normal", "cache hit ratio", "redis hit rate", "redis cache_hit|hit_ratio ratio?", "cache effectiveness",
                            "cache_hit|hit_ratio|hit_rate buffer? cache? ratio?", "buffer cache|pool hit"),
                   answers_unless=("cdn|edge|varnish|cloudflare|fastly|cloudfront|akamai",))  # a CDN's cache, not Redis
def test_cache_hit_ratio(redis, evidence):
    """A cache that misses most lookups sends the load it was meant to absorb to the database:
    keys expire too soon, are evicted for lack of memory, or are never written under the names
    they are read by.  For role cache: passes when at least ``redis_hit_min_pct`` of key lookups
    since the statistics were reset hit (INFO stats); with fewer than ``hit_ratio_min_lookups``
    lookups the ratio means nothing yet: not applicable.  Not applicable to other roles."""
    if redis.role != "cache":
        not_applicable(f"{redis.name}: role {redis.role}; the hit ratio is judged for a cache")
    info = redis.permitted("INFO", "stats")
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    lookups, min_lookups = hits + misses, int(redis.threshold("hit_ratio_min_lookups"))
    min_pct = float(redis.threshold("redis_hit_min_pct"))
    ratio = 100.0 * hits / lookups if lookups else None
    evidence.record(keyspace_hits=hits, keyspace_misses=misses, hit_pct=None if ratio is None else round(ratio, 1),
                    evicted_keys=info.get("evicted_keys"), expired_keys=info.get("expired_keys"))
    if ratio is None or lookups < min_lookups:
        not_applicable(f"{redis.name}: only {lookups} key lookups since the statistics were reset; "
                       f"the ratio is judged from {min_lookups} (hit_ratio_min_lookups)", unexamined=True)
    require(ratio >= min_pct, redis, f"cache hit ratio {ratio:.1f}% ({hits:,} hits, {misses:,} misses; {info.get('evicted_keys', 0)} keys evicted)",
            f"at least {min_pct:g}% (redis_hit_min_pct)")


@pytest.mark.check("redis-11", "Replication, Sentinel or Cluster healthy", severity="high",
                   refs=("Redis: replication", "Redis Sentinel", "Redis Cluster specification"),
                   answers=("redis replication healthy", "redis sentinel configured", "redis cluster healthy", "cache failover ready",
                            "redis replica in sync"))
def test_replication_health(redis, evidence):
    """A replica whose link to its master is down serves ever staler data and is no standby at
    failover; a Sentinel that sees its master down, or a Cluster with failed slots, is an outage
    in progress.  Reads INFO (and CLUSTER INFO): a replica passes with ``master_link_status:up``
    and no sync in progress; a master with replicas passes when every one is ``online``; a
    Sentinel passes when every master it watches has status ok; a Cluster node passes with
    ``cluster_state:ok`` and no failed slots.  A standalone server without replicas: not applicable."""
    mode = str(redis.permitted("INFO", "server").get("redis_mode", "standalone"))
    evidence.record(redis_mode=mode)
    if mode == "sentinel":
        masters = [v for k, v in redis.permitted("INFO", "sentinel").items() if k.startswith("master") and isinstance(v, dict)]
        evidence.record(masters={m.get("name"): {k: m.get(k) for k in ("status", "address", "slaves", "sentinels")} for m in masters})
        if not masters:
            fail(redis, "a Sentinel that watches no master", "every watched master with status ok")
        bad = [f"master {m.get('name')} at {m.get('address')} is {m.get('status')}" for m in masters if m.get("status") != "ok"]
        require(not bad, redis, "; ".join(bad), "every master the Sentinel watches with status ok")
        return
    if mode == "cluster":
        info = _cluster_info(redis.permitted("CLUSTER", "INFO"))
        evidence.record(cluster={k: info.get(k) for k in ("cluster_state", "cluster_slots_ok", "cluster_slots_pfail", "cluster_slots_fail",
                                                          "cluster_known_nodes")})
        problems = []
        if info.get("cluster_state") != "ok":
            problems.append(f"cluster_state is {info.get('cluster_state')}")
        if int(info.get("cluster_slots_fail", 0)):
            problems.append(f"{info['cluster_slots_fail']} slots failed")
        require(not problems, redis, "; ".join(problems), "cluster_state ok and no failed slots")
        return
    info = redis.permitted("INFO", "replication")
    role = str(info.get("role", ""))
    if role in ("slave", "replica"):
        link = str(info.get("master_link_status", "unknown"))
        master = f"{info.get('master_host')}:{info.get('master_port')}"
        evidence.record(role="replica", master=master, master_link_status=link, master_sync_in_progress=info.get("master_sync_in_progress"),
                        master_last_io_seconds_ago=info.get("master_last_io_seconds_ago"))
        down = f", down for {info['master_link_down_since_seconds']} s" if "master_link_down_since_seconds" in info else ""
        require(link == "up", redis, f"link to master {master} is {link}{down}", "master_link_status up")
        require(not int(info.get("master_sync_in_progress", 0)), redis, f"still syncing from master {master}", "a replica in sync")
        return
    replicas = [v for k, v in info.items() if k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict)]
    evidence.record(role=role, connected_replicas=int(info.get("connected_slaves", 0)),
                    replicas=[f"{r.get('ip')}:{r.get('port')} {r.get('state')} lag {r.get('lag')}" for r in replicas])
    if not replicas:
        not_applicable(f"{redis.name}: a standalone {role or 'server'} without replicas, not a Sentinel or Cluster node")
    lagging = [f"replica {r.get('ip')}:{r.get('port')} is {r.get('state')}" for r in replicas if r.get("state") != "online"]
    require(not lagging, redis, "; ".join(lagging), "every replica online")


def _cluster_info(reply) -> dict:
    if isinstance(reply, dict):
        return reply
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@pytest.mark.check("redis-12", "Recent successful save for a Redis that keeps data", severity="high",
                   refs=("Redis persistence: RDB and AOF", "Redis INFO persistence"),
                   answers=("redis persistence working", "redis snapshots recent", "redis backups recent", "queue data persisted",
                            "redis last|latest|recent save|snapshot|bgsave succeeded|succeed|success|ok|recent"))
def test_last_save(redis, evidence):
    """A schedule in the configuration says nothing about whether saving works: a full disk or
    a failing fork leaves the last good snapshot ever older, and a restart loses everything
    since.  For role broker, queue or session: passes with an append-only file whose last write
    succeeded, or an RDB snapshot that succeeded within ``redis_save_max_age_hours`` (or nothing
    changed since the last one).  A server that never saved since it started (``rdb_saves`` 0)
    with changes waiting fails.  Not applicable to caches."""
    if redis.role not in KEEPS_DATA:
        not_applicable(f"{redis.name}: role {redis.role}; a recent save is required of a broker, queue or session store")
    info = redis.permitted("INFO", "persistence")
    aof = int(info.get("aof_enabled", 0)) == 1
    saves, changes = int(info.get("rdb_saves", 0)), int(info.get("rdb_changes_since_last_save", 0))
    age_h = (dt.datetime.now(dt.timezone.utc).timestamp() - int(info.get("rdb_last_save_time", 0))) / 3600
    status = str(info.get("rdb_last_bgsave_status", "ok"))
    evidence.record(aof_enabled=aof, aof_last_write_status=info.get("aof_last_write_status"), rdb_saves=saves,
                    rdb_changes_since_last_save=changes, rdb_last_bgsave_status=status,
                    rdb_last_save_age_hours=round(age_h, 2) if saves else None)
    if aof:
        write = str(info.get("aof_last_write_status", "ok"))
        require(write == "ok", redis, f"append-only file on but its last write failed ({write})", "aof_last_write_status ok")
        return
    max_h = float(redis.threshold("redis_save_max_age_hours"))
    if status != "ok":
        fail(redis, f"the last RDB snapshot failed ({status}); {changes} changes not saved", "a successful snapshot")
    if changes == 0:
        return  # nothing to save: the data on disk is the data in memory
    require(saves > 0, redis, f"never saved since it started ({changes} changes not on disk; rdb_saves 0)",
            f"a successful snapshot within {max_h:g} h (redis_save_max_age_hours) or appendonly yes")
    require(age_h <= max_h, redis, f"last successful snapshot {age_h:.1f} h ago ({changes} changes since)",
            f"a successful snapshot within {max_h:g} h (redis_save_max_age_hours)")
