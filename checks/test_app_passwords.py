"""Password storage: how the application stores its users' passwords, read from its own users
table on every ``postgres`` or ``mysql`` target whose inventory entry names it
(``password_storage: {table, column}``).

Each hash is classified inside the database by its prefix (scheme and cost parameters); no hash,
salt or password leaves it: the evidence holds schemes, parameters and counts only.
"""

from __future__ import annotations

import re

import pytest

from pytest_deploycheck import Evidence, TargetError, not_applicable, require
from pytest_deploycheck.targets.mysql import MysqlTarget
from pytest_deploycheck.targets.postgres import PostgresTarget

pytestmark = pytest.mark.section("pwd", "Password storage")

#: OWASP Password Storage Cheat Sheet: argon2id (memory KiB, iterations) pairs of equal strength, p >= 1.
ARGON2ID_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
#: OWASP: scrypt N >= 2^17 (ln 17), r >= 8; PBKDF2 iterations per hash function.
SCRYPT_MIN_LN, SCRYPT_MIN_R = 17, 8
PBKDF2_MIN_ITERATIONS = {"sha1": 1_300_000, "sha256": 600_000, "sha512": 210_000}


def _classify_sql(table: str, column: str, mysql: bool) -> str:
    """One row per (scheme, parameters) with a count: the hashes are classified inside the
    database, so no hash leaves it; ``params`` holds only digits and parameter names."""
    def quote(name: str) -> str:
        return "`" + name.replace("`", "``") + "`" if mysql else '"' + name.replace('"', '""') + '"'

    value = f"CAST({quote(column)} AS CHAR)" if mysql else f"{quote(column)}::text"

    def matches(pattern: str) -> str:
        return f"v REGEXP '{pattern}'" if mysql else f"v ~ '{pattern}'"

    def extract(text: str, pattern: str) -> str:
        return f"REGEXP_SUBSTR({text}, '{pattern}')" if mysql else f"substring({text} from '{pattern}')"

    schemes = [
        ("bcrypt", "^[$]2[abxy]?[$][0-9]{2}[$]", "CONCAT('cost=', " + extract(extract("v", "^[$]2[abxy]?[$][0-9]{2}"), "[0-9]{2}$") + ")"),
        ("argon2id", "^[$]argon2id[$]",
         extract(extract("v", "^[$]argon2id[$](?:v=[0-9]+[$])?m=[0-9]+,t=[0-9]+,p=[0-9]+"), "m=[0-9]+,t=[0-9]+,p=[0-9]+")),
        ("argon2i/argon2d", "^[$]argon2[id][$]", "''"),
        ("scrypt", "^[$]scrypt[$]", extract(extract("v", "^[$]scrypt[$]ln=[0-9]+,r=[0-9]+,p=[0-9]+"), "ln=[0-9]+,r=[0-9]+,p=[0-9]+")),
        ("pbkdf2", "^[$]?pbkdf2[-_]sha(?:1|256|512)[$][0-9]+[$]",
         extract(extract("v", "^[$]?pbkdf2[-_]sha(?:1|256|512)[$][0-9]+"), "sha[0-9]+[$][0-9]+")),
        ("md5-crypt", "^[$]1[$]", "''"),
        ("sha-crypt", "^[$][56][$]", "''"),
        ("unsalted md5", "^[0-9a-fA-F]{32}$", "''"),
        ("unsalted sha1", "^[0-9a-fA-F]{40}$", "''"),
        ("unsalted sha256", "^[0-9a-fA-F]{64}$", "''"),
        ("unsalted sha512", "^[0-9a-fA-F]{128}$", "''"),
    ]
    scheme = " ".join(f"WHEN {matches(pattern)} THEN '{name}'" for name, pattern, _ in schemes)
    params = " ".join(f"WHEN {matches(pattern)} THEN {expr}" for _, pattern, expr in schemes)
    source = ".".join(quote(part) for part in table.split("."))
    return (f"SELECT scheme, params, COUNT(*) AS accounts FROM (SELECT CASE WHEN v IS NULL OR v = '' THEN 'empty' {scheme} "
            f"ELSE 'unrecognised (plain text?)' END AS scheme, COALESCE(CASE {params} END, '') AS params "
            f"FROM (SELECT {value} AS v FROM {source}) stored) classified GROUP BY scheme, params ORDER BY scheme, params")


def _weakness(scheme: str, params: str, bcrypt_min: int) -> str | None:
    """Why a (scheme, parameters) group is not acceptable storage, or None."""
    numbers = {k: int(v) for k, v in re.findall(r"([a-z]+)=([0-9]+)", params)}
    if scheme == "bcrypt":
        return None if numbers.get("cost", 0) >= bcrypt_min else f"bcrypt cost {numbers.get('cost', '?')} < {bcrypt_min}"
    if scheme == "argon2id":
        m, t, p = numbers.get("m", 0), numbers.get("t", 0), numbers.get("p", 0)
        strong = p >= 1 and any(m >= min_m and t >= min_t for min_m, min_t in ARGON2ID_MINIMUMS)
        return None if strong else f"argon2id {params or 'without parameters'} below OWASP's minimums (m=19456,t=2,p=1 or equivalent)"
    if scheme == "scrypt":
        strong = numbers.get("ln", 0) >= SCRYPT_MIN_LN and numbers.get("r", 0) >= SCRYPT_MIN_R and numbers.get("p", 0) >= 1
        return None if strong else f"scrypt {params} below OWASP's minimum (N=2^17, r=8, p=1)"
    if scheme == "pbkdf2":
        algorithm, _, iterations = params.partition("$")
        needed = PBKDF2_MIN_ITERATIONS.get(algorithm, max(PBKDF2_MIN_ITERATIONS.values()))
        return None if iterations.isdigit() and int(iterations) >= needed else f"pbkdf2-{algorithm} {iterations} iterations < {needed}"
    if scheme == "argon2i/argon2d":
        return "argon2i/argon2d (OWASP: argon2id)"
    return scheme if scheme != "empty" else None  # an empty hash is an account without a password login


def _password_storage(db: PostgresTarget | MysqlTarget, evidence: Evidence, *, mysql: bool) -> None:
    settings = db.setting("password_storage") or {}
    if not settings:
        not_applicable(f"{db.name}: no password_storage in the inventory (the application's users table and hash column)", unexamined=True)
    if not settings.get("table") or not settings.get("column"):
        raise TargetError(f"{db.label}: password_storage needs both table and column")
    try:
        rows = db.query(_classify_sql(str(settings["table"]), str(settings["column"]), mysql))
    except TargetError:
        raise
    except Exception as exc:  # the driver's error for a missing table/column or privilege: could not look
        if type(exc).__module__.split(".")[0] not in ("psycopg", "pymysql"):
            raise
        raise TargetError(f"{db.label}: reading {settings['table']}.{settings['column']} failed: {str(exc).splitlines()[0]}; "
                          "check password_storage and the login's SELECT privilege") from None
    bcrypt_min = int(db.threshold("bcrypt_min_cost"))
    found = {f"{row['scheme']}{' ' + row['params'] if row['params'] else ''}": int(row["accounts"]) for row in rows}
    evidence.record(table=settings["table"], column=settings["column"], accounts_by_scheme=found)
    if not rows:
        not_applicable(f"{db.name}: {settings['table']} holds no accounts yet")
    weak: dict[str, int] = {}
    for row in rows:
        reason = _weakness(str(row["scheme"]), str(row["params"]), bcrypt_min)
        if reason is not None:
            weak[reason] = weak.get(reason, 0) + int(row["accounts"])
    require(not weak, db, f"{settings['table']}.{settings['column']}: " + ", ".join(f"{n} account{'s' if n > 1 else ''} {why}"
                                                                                    for why, n in weak.items()),
            f"bcrypt cost >= {bcrypt_min} (bcrypt_min_cost), argon2id/scrypt/pbkdf2 at OWASP's minimums; no plain or unsalted fast hashes")


@pytest.mark.check("pwd-01", "Password hashes strong (PostgreSQL)", severity="critical",
                   refs=("OWASP Password Storage Cheat Sheet", "OWASP ASVS 4.0.3 V2.4.1", "CWE-916"),
                   answers=("password hash|hashing|hashed", "bcrypt|argon2|argon2id|scrypt|pbkdf2", "plaintext|plain password",
                            "password storage", "password hash|hashing|hashed bcrypt? argon2? scrypt? stored?",
                            "bcrypt|argon2|scrypt|pbkdf2", "password stored plaintext|plain|securely"))
def test_password_storage_postgres(postgres: PostgresTarget, evidence: Evidence) -> None:
    """A leaked users table is only as safe as its slowest-to-crack hash: plain text and unsalted
    MD5/SHA fall in seconds, bcrypt at cost 4 in hours.  The column named by
    ``password_storage`` is classified inside the database (by prefix; no hash leaves it, the
    evidence holds scheme, cost and counts).  Passes when every hash is bcrypt at
    ``bcrypt_min_cost`` (default 10) or more, or argon2id, scrypt or PBKDF2 at OWASP's minimums;
    fails naming how many accounts are stored how.  An unrecognised value is counted as plain text.
    """
    _password_storage(postgres, evidence, mysql=False)


@pytest.mark.check("pwd-02", "Password hashes strong (MySQL)", severity="critical",
                   refs=("OWASP Password Storage Cheat Sheet", "OWASP ASVS 4.0.3 V2.4.1", "CWE-916"),
                   answers=("password hash|hashing|hashed", "bcrypt|argon2|argon2id|scrypt|pbkdf2", "plaintext|plain password",
                            "password storage", "password hash|hashing|hashed bcrypt? argon2? scrypt? stored?",
                            "bcrypt|argon2|scrypt|pbkdf2", "password stored plaintext|plain|securely"))
def test_password_storage_mysql(mysql: MysqlTarget, evidence: Evidence) -> None:
    """As pwd-01, for an application whose users table is in MySQL or MariaDB (needs
    ``REGEXP_SUBSTR``: MySQL 8.0, MariaDB 10.0.5 or later)."""
    _password_storage(mysql, evidence, mysql=True)
