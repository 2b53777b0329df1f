"""The application-configuration catalog (checks/test_app_config.py) against folders made here.

A well-kept deployment folder passes everything; a careless one fails every check for its own
reason, and no secret it holds appears in any message or evidence.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.app_pool import read_pool_config
from tests.servers.base import Instance
from tests.servers.inventory import run_catalog

CHECKS = [f"cfg-0{n}" for n in range(1, 10)]
#: The careless folder's secrets: none of them may be printed.
BAD_SECRETS = ("development-secret-key", "abc123", "a" * 40, "changeme", "Sup3rS3cret")


def _folder(root: Path, files: dict[str, tuple[str, int]]) -> Path:
    for name, (text, mode) in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    return root


def _files(name: str, path: Path, **entry: object) -> Instance:
    return Instance(name=name, kind="files", entry={"path": str(path), **entry}, env={}, server=None)


def test_app_config_catalog(pytester: pytest.Pytester, tmp_path: Path) -> None:
    good_secrets = [secrets.token_urlsafe(36) for _ in range(4)]
    good = _folder(
        tmp_path / "good",
        {
            ".env": (
                "# application\n"
                "export NODE_ENV=production\n"
                "LOG_LEVEL=info\n"
                "DEBUG=false\n"
                f'JWT_SECRET="{good_secrets[0]}"\n'
                f"SESSION_SECRET='{good_secrets[1]}'\n"
                "DB_USER=app\n"
                f"DB_PASSWORD={good_secrets[2]}\n"
                f"DATABASE_URL=postgres://app:{good_secrets[3]}@db.internal:5432/app\n"
                "CORS_ORIGIN=https://app.example.com,https://admin.example.com\n"
                "MAX_UPLOAD_SIZE=10mb  # what the largest dataset needs\n",
                0o600,
            ),
            "config/production.env": ("APP_KEY=${APP_KEY_FROM_VAULT}\nREDIS_PASSWORD=${REDIS_PASSWORD}\n", 0o640),
            "package.json": (json.dumps({"name": "trainer", "private": True}), 0o644),
            "deploy/nginx/site.conf": ("server {\n    listen 443 ssl;\n    client_max_body_size 10m;\n}\n", 0o644),
        },
    )
    bad = _folder(
        tmp_path / "bad",
        {
            ".env": (
                "NODE_ENV=development\n"
                "DEBUG=true\n"
                "LOG_LEVEL=debug\n"
                "JWT_SECRET=development-secret-key\n"
                "SESSION_SECRET=abc123\n"
                f"SECRET_KEY={'a' * 40}\n"
                "DB_USER=postgres\n"
                "DB_PASSWORD=postgres\n"
                "ADMIN_USER=ops\n"
                "ADMIN_PASSWORD=Sup3rS3cret\n"
                "REDIS_PASSWORD=\n"
                "DATABASE_URL=postgres://admin:changeme@db:5432/app\n"
                "CORS_ORIGIN=*\n",
                0o644,
            ),
            ".env.production": ("ADMIN_PASSWORD=ops\n", 0o604),
            "package.json": ("{}", 0o644),
            "nginx.conf": ("http {\n  server {\n    client_max_body_size 0;\n  }\n}\n", 0o644),
        },
    )
    node_unset = _folder(tmp_path / "node-unset", {".env": ("LOG_LEVEL=warn\n", 0o600), "package.json": ("{}", 0o644)})
    empty = tmp_path / "empty"
    empty.mkdir()
    targets = [
        _files("good", good, env_files=[".env", "config/production.env"]),
        _files("bad", bad),
        _files("node-unset", node_unset),
        _files("empty", empty),
    ]
    run = run_catalog(pytester, "test_app_config.py", targets=targets)

    def outcomes(target: str) -> dict[str, str]:
        return {check: run.outcome(check, target) for check in CHECKS}

    assert outcomes("good") == dict.fromkeys(CHECKS, "passed")
    assert run.evidence("cfg-04", "good")["set_elsewhere"] == ["APP_KEY (config/production.env:1)"]
    assert run.evidence("cfg-07", "good")["modes"] == {".env": "0600", "config/production.env": "0640"}
    assert "client_max_body_size (deploy/nginx/site.conf:3) = 10m" in run.evidence("cfg-08", "good")["limits"]

    assert outcomes("bad") == dict.fromkeys(CHECKS, "failed")
    label = f"bad ({bad})"
    messages = {check: run.message(check, "bad") for check in CHECKS}
    assert messages["cfg-01"] == f"{label}: DEBUG (.env:2) is 'true'; expected every debug flag off (DEBUG=false) in production"
    assert messages["cfg-02"].startswith(f"{label}: NODE_ENV (.env:1) is 'development'; expected production")
    assert "LOG_LEVEL (.env:3) is 'debug'; expected info or warn" in messages["cfg-03"]
    assert messages["cfg-04"] == (
        f"{label}: JWT_SECRET (.env:4) is placeholder text (22 characters); SESSION_SECRET (.env:5) is 6 characters; "
        "SECRET_KEY (.env:6) uses only 1 distinct characters; expected >= 32 characters of random data (e.g. openssl rand -base64 48)"
    )
    assert messages["cfg-05"] == (
        f"{label}: DB_PASSWORD (.env:8) is a well-known default password; REDIS_PASSWORD (.env:11) is empty; "
        "DATABASE_URL (.env:12) is a URL whose password is a well-known default password; "
        "ADMIN_PASSWORD (.env.production:1) is the same as its user name; expected unique, generated passwords for every account"
    )
    assert "CORS_ORIGIN (.env:13) allows '*'" in messages["cfg-06"]
    assert messages["cfg-07"] == (
        f"{label}: .env is mode 0644 (readable by every local user); .env.production is mode 0604 "
        "(readable by every local user); expected mode 0600 or 0640 (chmod o= FILE)"
    )
    assert "no upload size limit (unlimited: client_max_body_size (nginx.conf:3) = 0)" in messages["cfg-08"]
    # cfg-09 judges what cfg-05 does not already report: ADMIN_PASSWORD is no default, but short.
    assert messages["cfg-09"] == (
        f"{label}: ADMIN_PASSWORD (.env:10) is 11 characters; expected >= 16 characters of random data for every "
        "service password (e.g. openssl rand -base64 24)"
    )
    assert run.evidence("cfg-09", "good") == {
        "checked": ["DB_PASSWORD (.env:8): 48 characters", "DATABASE_URL (.env:9) (its URL's password): 48 characters"],
        "set_elsewhere": ["REDIS_PASSWORD (config/production.env:2)"], "reported_by_cfg_05": []}
    assert run.evidence("cfg-09", "bad")["reported_by_cfg_05"] == [
        "DB_PASSWORD (.env:8)", "REDIS_PASSWORD (.env:11)", "DATABASE_URL (.env:12) (its URL's password)", "ADMIN_PASSWORD (.env.production:1)"]
    for result in run.summary.results:
        text = f"{result.message} {result.evidence}"
        assert not any(secret in text for secret in (*BAD_SECRETS, *good_secrets)), result.where

    assert run.outcome("cfg-02", "node-unset") == "failed"
    assert "NODE_ENV is not set in .env, .env.production of a Node app (package.json)" in run.message("cfg-02", "node-unset")
    assert {c: run.outcome(c, "node-unset") for c in ("cfg-01", "cfg-03", "cfg-07")} == dict.fromkeys(
        ("cfg-01", "cfg-03", "cfg-07"), "passed"
    )
    assert {c: run.outcome(c, "node-unset") for c in ("cfg-04", "cfg-05", "cfg-06", "cfg-09")} == {
        "cfg-04": "n/a",
        "cfg-05": "passed",
        "cfg-06": "n/a",
        "cfg-09": "n/a",
    }

    assert outcomes("empty") == dict.fromkeys(CHECKS, "n/a")
    assert "none of .env, .env.production in" in run.message("cfg-01", "empty")


def test_structured_config_files_are_judged_like_env_files(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A Go service keeps its settings in YAML (``config/production.yaml``): named in
    ``config_files``, it is flattened (``auth.jwt_secret`` is ``AUTH_JWT_SECRET``) and judged by
    the same rules, with file and line in the message and no secret value."""
    strong = secrets.token_urlsafe(36)
    good = _folder(tmp_path / "go-good", {"config/production.yaml": (
        "server:\n  debug: false\n  environment: production\nlog:\n  level: info\n"
        f"auth:\n  jwt_secret: {strong}\ndatabase:\n  user: app\n  password: {secrets.token_urlsafe(24)}\n"
        "cors:\n  allowed_origins: [https://app.example.com]\n", 0o600)})
    bad = _folder(tmp_path / "go-bad", {"config/production.yaml": (
        "server:\n  debug: true\n  environment: production\nlog:\n  level: debug\n"
        "auth:\n  jwt_secret: changeme\ndatabase:\n  user: postgres\n  password: postgres\n"
        "cors:\n  allowed_origins: ['*']\n", 0o600)})
    targets = [_files(n, p, config_files=["config/production.yaml"], env_files=[".env"]) for n, p in (("go-good", good), ("go-bad", bad))]
    run = run_catalog(pytester, "test_app_config.py", targets=targets, args=["-k", "cfg-01 or cfg-03 or cfg-04 or cfg-05 or cfg-06"])
    for check in ("cfg-01", "cfg-03", "cfg-04", "cfg-05", "cfg-06"):
        assert run.outcome(check, "go-good") == "passed", (check, run.message(check, "go-good"))
        assert run.outcome(check, "go-bad") == "failed", check
    assert "SERVER_DEBUG (config/production.yaml:2)" in run.message("cfg-01", "go-bad")
    assert "AUTH_JWT_SECRET (config/production.yaml:7)" in run.message("cfg-04", "go-bad")
    reported = repr([(r.message, r.evidence) for r in run.summary.results])
    assert strong not in reported and "changeme" not in reported


def test_java_profiles_and_properties_files(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A Spring Boot service keeps its settings in ``application.properties`` (or YAML): the active
    profiles must name production and no development profile; a ``.properties`` file is read like
    the others (file and line in the message)."""
    strong = secrets.token_urlsafe(36)
    folders = {
        "spring-good": {"application.properties": (
            "# production\nspring.profiles.active=eu-prod,metrics\nlogging.level.root: info\n"
            f"spring.datasource.password={strong}\n", 0o600)},
        "spring-dev": {"application.yml": ("spring:\n  profiles:\n    active: prod,dev\n", 0o600)},
        "spring-none": {"application.properties": ("spring.profiles.active = default\n", 0o600)},
        "quarkus-test": {".env": ("QUARKUS_PROFILE=test\n", 0o600)},
        "magento-dev": {".env": ("MAGE_MODE=developer\n", 0o600)},
    }
    targets = []
    for name, files in folders.items():
        configs = [f for f in files if f != ".env"]
        targets.append(_files(name, _folder(tmp_path / name, files), config_files=configs, env_files=[".env"]))
    run = run_catalog(pytester, "test_app_config.py", targets=targets, args=["-k", "cfg-02 or cfg-03"])
    assert run.outcome("cfg-02", "spring-good") == "passed", run.message("cfg-02", "spring-good")
    assert run.evidence("cfg-02", "spring-good")["declared"] == {"SPRING_PROFILES_ACTIVE (application.properties:2)": "eu-prod,metrics"}
    assert run.outcome("cfg-03", "spring-good") == "passed"  # logging.level.root read from the .properties file
    assert "SPRING_PROFILES_ACTIVE (application.yml:3) is 'prod,dev' (development profile dev)" in run.message("cfg-02", "spring-dev")
    assert "SPRING_PROFILES_ACTIVE (application.properties:1) is 'default' (no production profile)" in run.message("cfg-02", "spring-none")
    assert "QUARKUS_PROFILE (.env:1) is 'test' (development profile test)" in run.message("cfg-02", "quarkus-test")
    assert "MAGE_MODE (.env:1) is 'developer'" in run.message("cfg-02", "magento-dev")
    assert strong not in repr([(r.message, r.evidence) for r in run.summary.results])


def test_env_file_that_cannot_be_read_is_an_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A ``.env`` that is a named pipe (reading it would block) or a folder (we run as root, so
    a mode cannot make a file unreadable) is "could not look": every check that reads it ends
    as an error naming the file, never as n/a for a missing one, and no read blocks.  A FIFO
    named ``*.conf`` in the tree is one too, for the nginx part of cfg-08."""
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / ".env")
    folder = tmp_path / "folder"
    (folder / ".env").mkdir(parents=True)
    conf = _folder(tmp_path / "conf", {".env": ("MAX_UPLOAD_SIZE=10mb\n", 0o600)})
    os.mkfifo(conf / "site.conf")
    config = _folder(tmp_path / "config", {".env": ("DEBUG=false\n", 0o600)})
    os.mkfifo(config / "settings.yaml")
    targets = [_files("fifo", fifo), _files("folder", folder), _files("conf", conf),
               _files("config", config, config_files=["settings.yaml"])]
    run = run_catalog(pytester, "test_app_config.py", targets=targets)
    assert {check: run.outcome(check, "fifo") for check in CHECKS} == dict.fromkeys(CHECKS, "error")
    assert {check: run.outcome(check, "folder") for check in CHECKS} == dict.fromkeys(CHECKS, "error")
    assert run.message("cfg-01", "fifo") == f"fifo ({fifo}): .env is a named pipe (FIFO); it was not read"
    assert run.message("cfg-07", "folder") == f"folder ({folder}): .env is a folder; it was not read"
    assert run.outcome("cfg-08", "conf") == "error"
    assert run.message("cfg-08", "conf") == f"conf ({conf}): site.conf is a named pipe (FIFO); it was not read"
    assert run.outcome("cfg-01", "config") == "error"
    assert run.message("cfg-01", "config") == f"config ({config}): settings.yaml is a named pipe (FIFO); it was not read"
    assert run.outcome("cfg-07", "config") == "passed"  # env files only: the YAML file plays no part


def test_pool_reader_reads_spring_properties(tmp_path: Path) -> None:
    (tmp_path / "application.properties").write_text(
        "spring.datasource.url=jdbc:postgresql://db:5432/app\n# pool\nspring.datasource.hikari.maximum-pool-size = 40\n")
    config = read_pool_config(tmp_path, config_files=["application.properties"])
    assert [(s.where, n) for s, n in config.sizes] == [("SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE (application.properties:3)", 40)]


def test_pool_reader_fails_closed(tmp_path: Path) -> None:
    """pg-25 reads the same files through the same reader: a FIFO ``.env`` is an error naming
    it, a configuration file that is not YAML is an error (never "no pool size"), and camelCase
    keys are split (knex's ``acquireTimeoutMillis``)."""
    os.mkfifo(tmp_path / ".env")
    with pytest.raises(TargetError, match=r"^app-config \(.*\): \.env is a named pipe \(FIFO\); it was not read$"):
        read_pool_config(tmp_path, name="app-config")
    (tmp_path / ".env").unlink()
    (tmp_path / "db.json").write_text('{"pool": {"max": 7, "acquireTimeoutMillis": 3000}')
    with pytest.raises(TargetError, match=r"db\.json is not valid YAML or JSON"):
        read_pool_config(tmp_path, config_files=["db.json"])
    (tmp_path / "db.json").write_text('{"pool": {"max": 7, "acquireTimeoutMillis": 3000}}')
    config = read_pool_config(tmp_path, config_files=["db.json", "absent.yaml"])
    assert config.files == ["db.json"]
    assert [(s.where, n) for s, n in config.sizes] == [("POOL_MAX (db.json:1)", 7)]
    assert [(s.key, t) for s, t in config.timeouts] == [("POOL_ACQUIRE_TIMEOUT_MILLIS", 3000.0)]


def _git(repo: Path, *args: str) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent)}
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main",
                           "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def test_secrets_committed_to_git(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """cfg-10 against real repositories: a clean one (templates, AWS's documented example key,
    a test key under an ignored path), a careless one (a private key and an env file at HEAD, a
    GitHub token added and removed again: only in history) and a folder outside git."""
    # Secret-shaped text is built here, so that this file itself holds none.
    pem = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
    token = "ghp" + "_" + secrets.token_hex(18)
    good = _folder(tmp_path / "good", {
        "README.md": ("# shop\nSee docs/aws.md\n", 0o644),
        ".env.example": ("DB_PASSWORD=changeme\n", 0o644),
        "docs/aws.md": ("Set AWS_ACCESS_KEY_ID (e.g. AKIA" + "IOSFODNN7EXAMPLE)\n", 0o644),
        "tests/fixtures/test_key": (pem, 0o600),
        "tests/test_login.py": ("PASSWORD = 'testpass-1234'\n", 0o644),  # a test's own login: tests are not judged
        "config/database.yml": ('production:\n  password: <%= ENV["DB_PASSWORD"] %>\n', 0o644),
        "app/settings.py": ("import os\nSECRET_KEY = os.environ['SECRET_KEY']\n", 0o644),
    })
    _git(good, "init", "-q")
    _git(good, "add", "-A")
    _git(good, "commit", "-qm", "initial")
    bad = _folder(tmp_path / "bad", {
        "app/settings.py": (f"GITHUB_TOKEN = '{token}'\nDEBUG = False\n", 0o644),
        "config/deploy_key": (pem, 0o600),
        ".env.production": ("DB_PASSWORD=Sup3rS3cret\n", 0o600),
        "db/seeds.rb": ("User.create!(email: 'admin@shop.test', password: 'Adm1n!2024x')\n", 0o644),
    })
    _git(bad, "init", "-q")
    _git(bad, "add", "-A")
    _git(bad, "commit", "-qm", "initial")
    added = _git(bad, "rev-parse", "HEAD").strip()
    (bad / "app/settings.py").write_text("import os\nGITHUB_TOKEN = os.environ['GITHUB_TOKEN']\nDEBUG = False\n")
    _git(bad, "commit", "-qam", "token from the environment")
    outside = _folder(tmp_path / "outside", {"app.py": ("print('hi')\n", 0o644)})
    broken = _folder(tmp_path / "broken", {".git": ("not a gitdir line\n", 0o644), "app.py": ("print('hi')\n", 0o644)})

    run = run_catalog(pytester, "test_app_config.py", targets=[
        _files("repo-good", good, secret_scan_ignore=["tests/fixtures/*"]), _files("repo-bad", bad), _files("no-repo", outside),
        _files("repo-broken", broken),
    ], args=["-k", "committed_secrets"])
    assert run.outcome("cfg-10", "repo-good") == "passed", run.message("cfg-10", "repo-good")
    assert run.evidence("cfg-10", "repo-good")["commits_read"] == 1
    assert run.outcome("cfg-10", "repo-bad") == "failed"
    message = run.message("cfg-10", "repo-bad")
    assert "5 secret(s) committed" in message and "(HEAD and the last 2 commit(s))" in message
    assert ".env.production (env file tracked by git)" in message and "config/deploy_key:1 (private key)" in message
    assert ".env.production:1 (hardcoded password or key)" in message and "db/seeds.rb:1 (hardcoded password or key)" in message
    assert f"app/settings.py:1 (GitHub token, added in {added[:10]})" in message
    for value in (token, "Adm1n!2024x", "Sup3rS3cret"):
        assert value not in message and value not in str(run.evidence("cfg-10", "repo-bad"))
    assert run.outcome("cfg-10", "no-repo") == "n/a" and "is not in a git work tree" in run.message("cfg-10", "no-repo")
    # History larger than the read cap: what was read is judged, and the evidence says the rest was not.
    from pytest_deploycheck.targets import secret_scan

    full = secret_scan.scan(bad, history_commits=500, timeout=30)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(secret_scan, "MAX_TOTAL_BYTES", 600)
        capped = secret_scan.scan(bad, history_commits=500, timeout=30)
    assert (full.commits, full.history_cut) == (2, False)
    assert capped.history_cut and capped.commits < 2
    # A repository git cannot read is an error (could not look), never a pass.
    assert run.outcome("cfg-10", "repo-broken") == "error"
    assert "the repository could not be scanned: git rev-parse failed: fatal:" in run.message("cfg-10", "repo-broken")


@pytest.mark.parametrize(("line", "secret"), [
    ('DB_PASSWORD = "Sup3rS3cret!"', True),
    ("password: hunter2hunter2", True),
    ("secretKey: wJalrXUtnFEMI/K7MDENG", True),
    ("apiKey: 'a8f5f167f44f4964e6c998dee827110c'", True),
    # Where a secret is, or a reference to it: not the secret.
    ("secretName: web-tls-certificate", False),
    ("secret_arn = 'arn:aws:secretsmanager:eu-west-1:1:secret:db'", False),
    ("DB_PASSWORD_FILE=/run/secrets/db_password", False),
    ("passwordPolicy: strict-and-long", False),
    ("password: ${DB_PASSWORD}", False),
    ("password: <%= ENV['DB_PASSWORD'] %>", False),
    ("api_key: changeme-please", False),
])
def test_secret_rules_on_configuration_lines(line: str, secret: bool) -> None:
    from pytest_deploycheck.targets import secret_scan

    assert bool(list(secret_scan.match_lines(line, "deploy/values.yaml"))) is secret


def test_error_tracking(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """cfg-11 on folders as deployments leave them: a DSN, a key from the environment, placeholder
    text, something that is not a DSN, and an SDK in the dependencies with nothing configured."""
    dsn = "https://0f3c9a1b2d4e4f5a8b7c6d5e4f3a2b1c@o450123.ingest.sentry.io/4505123"
    folders = {
        "sentry": {".env": (f"NODE_ENV=production\nSENTRY_DSN={dsn}\n", 0o600)},
        "rollbar": {".env": ("ROLLBAR_ACCESS_TOKEN=${ROLLBAR_TOKEN}\n", 0o600)},
        "placeholder": {".env": ("SENTRY_DSN=your-sentry-dsn-here\n", 0o600)},
        "not-a-dsn": {".env": ("SENTRY_DSN=https://sentry.io/4505123\n", 0o600)},
        "sdk-only": {".env": ("NODE_ENV=production\n", 0o600),
                     "requirements.txt": ("django==5.0\nsentry-sdk[django]==2.1.0\n", 0o644)},
        "no-env": {"README.md": ("# app\n", 0o644)},
    }
    targets = [_files(name, _folder(tmp_path / name, spec)) for name, spec in folders.items()]
    run = run_catalog(pytester, "test_app_config.py", targets=targets, args=["-k", "cfg-11"])
    outcomes = {name: run.outcome("cfg-11", name) for name in folders}
    assert outcomes == {"sentry": "passed", "rollbar": "passed", "placeholder": "failed", "not-a-dsn": "failed",
                        "sdk-only": "failed", "no-env": "n/a"}
    assert run.evidence("cfg-11", "sentry")["configured"] == ["Sentry: SENTRY_DSN (.env:2)"]
    assert "SENTRY_DSN (.env:1) is placeholder text (20 characters)" in run.message("cfg-11", "placeholder")
    assert "SENTRY_DSN (.env:1) is not a DSN (https://<key>@<host>/<project id>)" in run.message("cfg-11", "not-a-dsn")
    assert ("no error tracker configured in .env, .env.production although sentry-sdk (requirements.txt) is a dependency; "
            "expected a usable SENTRY_DSN") in run.message("cfg-11", "sdk-only")
    for result in run.summary.results:
        assert dsn not in f"{result.message} {result.evidence}"


def test_payments_live(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """cfg-12 on folders as deployments leave them: live Stripe keys, a test key left in, a PayPal
    sandbox mode and address, a Braintree environment of the sandbox, settings that say neither
    live nor test, and no payment settings at all."""
    live_key = "sk_live_" + "51Hx" + "Q" * 20
    test_key = "sk_test_" + "51Hx" + "R" * 20
    folders = {
        "stripe-live": {".env": (f"NODE_ENV=production\nSTRIPE_SECRET_KEY={live_key}\nSTRIPE_WEBHOOK_SECRET=whsec_abc\n", 0o600)},
        "paypal-live": {".env": ("PAYPAL_MODE=live\nPAYPAL_CLIENT_ID=AbC\n", 0o600)},
        "stripe-test": {".env": (f"STRIPE_SECRET_KEY={live_key}\nSTRIPE_PUBLISHABLE_KEY=pk_test_51HxTTTTTTTT\n", 0o600)},
        "paypal-sandbox": {".env": ("PAYPAL_MODE=sandbox\nPAYPAL_API=https://api-m.sandbox.paypal.com/v2\n", 0o600)},
        "braintree": {".env": ("BRAINTREE_ENVIRONMENT=Sandbox\nBRAINTREE_MERCHANT_ID=abc\n", 0o600)},
        "unknown": {".env": ("PAYPAL_CLIENT_ID=AbC\nSTRIPE_SECRET_KEY=${STRIPE_KEY}\n", 0o600)},
        "none": {".env": ("NODE_ENV=production\n", 0o600)},
    }
    targets = [_files(name, _folder(tmp_path / name, spec)) for name, spec in folders.items()]
    run = run_catalog(pytester, "test_app_config.py", targets=targets, args=["-k", "cfg-12"])
    outcomes = {name: run.outcome("cfg-12", name) for name in folders}
    assert outcomes == {"stripe-live": "passed", "paypal-live": "passed", "stripe-test": "failed", "paypal-sandbox": "failed",
                        "braintree": "failed", "unknown": "n/a", "none": "n/a"}
    assert run.evidence("cfg-12", "stripe-live")["live"] == ["STRIPE_SECRET_KEY (.env:2) is a Stripe live key"]
    assert ("): STRIPE_PUBLISHABLE_KEY (.env:2) is a Stripe test or sandbox value; expected only live keys"
            in run.message("cfg-12", "stripe-test"))
    message = run.message("cfg-12", "paypal-sandbox")
    assert "PAYPAL_MODE (.env:1) puts PayPal in sandbox mode; PAYPAL_API (.env:2) is a PayPal test or sandbox value" in message
    assert "BRAINTREE_ENVIRONMENT (.env:1) puts Braintree in sandbox mode" in run.message("cfg-12", "braintree")
    assert ("payment settings PAYPAL_CLIENT_ID (.env:1), STRIPE_SECRET_KEY (.env:2), but none that says live or test"
            in run.message("cfg-12", "unknown"))
    assert "no payment provider settings in .env, .env.production" in run.message("cfg-12", "none")
    assert all(run.result_for("cfg-12", name).unexamined for name in ("unknown", "none"))
    for result in run.summary.results:
        assert live_key not in f"{result.message} {result.evidence}" and test_key not in f"{result.message} {result.evidence}"


def test_dependencies_locked(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """cfg-13 on folders as repositories leave them: locked npm and Python projects, a manifest
    without its lock, a lock older than its manifest, loose requirements, and no manifest at all."""
    package = '{"name": "shop", "dependencies": {"express": "^4.19.2", "helmet": "^7.1.0"}}'
    lock = ('{"lockfileVersion": 3, "packages": {"": {"name": "shop"}, "node_modules/express": {"version": "4.19.2"}, '
            '"node_modules/helmet": {"version": "7.1.0"}}}')
    old_lock = '{"lockfileVersion": 3, "packages": {"": {}, "node_modules/express": {"version": "4.19.2"}}}'
    folders = {
        "npm-locked": {"package.json": (package, 0o644), "package-lock.json": (lock, 0o644)},
        "py-pinned": {"requirements.txt": ("django==5.0.6 \\\n    --hash=sha256:abc\ngunicorn==22.0.0 --hash=sha256:def\n-r base.txt\n", 0o644),
                      "pyproject.toml": ('[project]\nname = "shop"\ndependencies = ["django>=5"]\n', 0o644)},
        "poetry": {"pyproject.toml": ('[tool.poetry.dependencies]\npython = "^3.11"\n', 0o644), "poetry.lock": ("# lock\n", 0o644)},
        "no-lock": {"package.json": (package, 0o644), "Gemfile": ("source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\n", 0o644)},
        "stale-lock": {"package.json": (package, 0o644), "package-lock.json": (old_lock, 0o644)},
        "loose": {"requirements.txt": ("django>=4.2\nrequests\ncelery==5.3.6\ngit+https://github.com/acme/lib@main#egg=lib\n", 0o644)},
        "nothing": {"README.md": ("# app\n", 0o644), "package.json": ('{"name": "tooling", "private": true}', 0o644)},
    }
    targets = [_files(name, _folder(tmp_path / name, spec)) for name, spec in folders.items()]
    run = run_catalog(pytester, "test_app_config.py", targets=targets, args=["-k", "cfg-13"])
    outcomes = {name: run.outcome("cfg-13", name) for name in folders}
    assert outcomes == {"npm-locked": "passed", "py-pinned": "passed", "poetry": "passed", "no-lock": "failed", "stale-lock": "failed",
                        "loose": "failed", "nothing": "n/a"}
    assert run.evidence("cfg-13", "py-pinned")["manifests"] == {"pyproject.toml": "installs from pinned requirements",
                                                                  "requirements.txt": "hashes on every requirement"}
    message = run.message("cfg-13", "no-lock")
    assert "package.json declares dependencies and no lock file stands beside it (package-lock.json, npm-shrinkwrap.json" in message
    assert "Gemfile declares dependencies and no lock file stands beside it (Gemfile.lock)" in message
    assert ("package-lock.json does not record helmet that package.json asks for: the lock is older than the manifest"
            in run.message("cfg-13", "stale-lock"))
    assert ("requirements.txt does not pin django>=4.2, requests, git+https://github.com/acme/lib@main#egg=lib; expected a lock file"
            in run.message("cfg-13", "loose"))
    assert run.result_for("cfg-13", "nothing").unexamined


def test_requirement_pins() -> None:
    from pytest_deploycheck.targets.lockfiles import unpinned_requirements

    assert unpinned_requirements("Django==5.0.6\nuvicorn[standard]==0.30.1 ; python_version >= '3.10'\n") == ([], False)
    assert unpinned_requirements("pkg===1.0 --hash=sha256:aa\n-e .\n./vendor/lib\n--index-url https://pypi.example/simple\n") == ([], True)
    assert unpinned_requirements("pkg==1.*\nother~=2.0\nlib @ git+https://x/y@" + "a" * 40 + "\n") == (["pkg==1.*", "other~=2.0"], False)
    # a token in a VCS URL is never shown
    assert unpinned_requirements("git+https://ghp_token123@github.com/acme/lib@main#egg=lib\n")[0] == [
        "git+https://github.com/acme/lib@main#egg=lib"]
