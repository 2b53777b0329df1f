"""Application configuration: every ``files`` target (a local folder with the deployed app's configuration).

The environment files it names in ``env_files`` (default ``.env`` and ``.env.production``,
relative to ``path``) are read as dotenv files, and the YAML or JSON files it names in
``config_files`` are flattened to the same names (``auth.jwt_secret`` is ``AUTH_JWT_SECRET``):
debug flags, the runtime environment, log
level, signing secrets, default credentials, CORS, file permissions and the upload size limit
(also from nginx ``*.conf`` files in the folder).  Nothing is sent anywhere.

No secret's value ever reaches a message or the evidence: findings name the variable, the file
and line, and the value's length or kind ("is 12 characters", "a well-known default password").
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from pathlib import Path

import pytest

from pytest_deploycheck import TargetError, not_applicable, require
from pytest_deploycheck.targets import lockfiles, secret_scan
from pytest_deploycheck.targets.app_settings import Setting, config_names, env_names, read_settings, read_text
from pytest_deploycheck.targets.files import FilesTarget

pytestmark = pytest.mark.section("app_config", "Application configuration")

FALSY = frozenset({"", "0", "false", "no", "off", "none"})
PRODUCTION = frozenset({"production", "prod", "live"})

DEBUG_KEY = re.compile(r"^(?:[A-Z0-9]+_)*DEBUG(?:_MODE)?$|^ENABLE_DEBUG$", re.I)
ENV_KEYS = (
    "NODE_ENV",
    "RAILS_ENV",
    "RACK_ENV",
    "APP_ENV",
    "FLASK_ENV",
    "DJANGO_ENV",
    "MIX_ENV",
    "GO_ENV",
    "ASPNETCORE_ENVIRONMENT",
    "MAGE_MODE",
    "ENVIRONMENT",
)
#: Settings that list the active profiles of a Java framework (Spring Boot, Quarkus, Micronaut).
PROFILE_KEYS = ("SPRING_PROFILES_ACTIVE", "QUARKUS_PROFILE", "MICRONAUT_ENVIRONMENTS")
DEV_PROFILES = frozenset({"dev", "development", "local", "test", "debug", "devtools", "h2"})
PRODUCTION_PROFILE = re.compile(r"(?i)(?:^|[-_.])(?:prod|production|prd|live)(?:$|[-_.])")
LOG_KEY = re.compile(r"^(?:[A-Z0-9]+_)*(?:LOG_?LEVEL|LOG_LVL|LOGGING_LEVEL)$|^RUST_LOG$|^LOGGING_LEVEL_[A-Z0-9_]+$", re.I)  # Spring: logging.level.root
VERBOSE_LEVELS = re.compile(r"(?i)\b(?:debug|trace|verbose|silly|all)\b")
#: Secrets the application itself signs or encrypts with (not third-party API keys, whose
#: length the provider decides).
SIGNING_SECRET = re.compile(
    r"^(?:[A-Z0-9]+_)*(?:JWT|SESSION|COOKIE|TOKEN|SIGNING|ENCRYPTION|CSRF|HMAC|APP|AUTH|NEXTAUTH)(?:_[A-Z0-9]+)*_(?:SECRET|KEY)$"
    r"|^SECRET(?:_KEY(?:_BASE)?)?$|^APP_KEY$",
    re.I,
)
NOT_A_SECRET_VALUE = re.compile(r"(?i)(?:_FILE|_PATH|_URL|PUBLIC[_A-Z]*_KEY|_ALGORITHM|_ALG|_EXPIRES?(?:_IN)?|_TTL)$")
PLACEHOLDER = re.compile(
    r"(?i)change.?me|example|placeholder|replace.?me|your[-_ ]|dummy|insecure|default|development|secret"
    r"|password|todo|fixme|x{4,}|<[^>]+>"
)
PASSWORD_KEY = re.compile(r"(?:^|_)(?:PASSWORD|PASSWD|PASS|PWD)$", re.I)
USER_KEY = re.compile(r"^(.*?)_?(?:USER|USERNAME|LOGIN)$", re.I)
DEFAULT_PASSWORDS = frozenset(
    {
        "password",
        "passw0rd",
        "admin",
        "administrator",
        "changeme",
        "change_me",
        "changeit",
        "secret",
        "root",
        "toor",
        "postgres",
        "mysql",
        "redis",
        "guest",
        "default",
        "example",
        "test",
        "demo",
        "user",
        "pass",
        "sa",
        "qwerty",
        "letmein",
        "1234",
        "12345",
        "123456",
        "12345678",
    }
)
URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://([^:/@\s]*):([^@/\s]*)@", re.I)
CORS_KEY = re.compile(r"^(?:[A-Z0-9]+_)*(?:CORS(?:_ALLOWED|_ALLOW)?_ORIGINS?|ALLOWED_ORIGINS|ACCESS_CONTROL_ALLOW_ORIGIN)$", re.I)
CORS_ALLOW_ALL = re.compile(r"^(?:[A-Z0-9]+_)*CORS_(?:ORIGIN_ALLOW_ALL|ALLOW_ALL_ORIGINS)$", re.I)
UPLOAD_KEY = re.compile(r"(?i)^(?=.*(?:MAX|LIMIT))(?=.*(?:UPLOAD|BODY|FILE_?SIZE|CONTENT_LENGTH|POST|PAYLOAD|REQUEST_SIZE)).*$")
UNLIMITED = frozenset({"", "0", "-1", "unlimited", "none", "infinity", "inf"})
CLIENT_MAX_BODY = re.compile(r"^\s*client_max_body_size\s+([^;\s]+)\s*;", re.M)
SKIP_DIRS = frozenset({"node_modules", ".git", ".venv", "venv", "__pycache__", "vendor", ".tox", "dist", "build"})


def _env_paths(files: FilesTarget) -> list[tuple[str, Path]]:
    """(name as the inventory gives it, path) of the env files that exist; n/a when there is none.
    One that exists as something else (a FIFO, a folder) or cannot be read is an error."""
    names = env_names(files)
    found = files.regular_files(names)
    if not found:
        not_applicable(f"{files.name}: none of {', '.join(names)} in {files.path} (files.{files.name}.env_files)", unexamined=True)
    return found


def _config_paths(files: FilesTarget) -> list[tuple[str, Path]]:
    """The structured configuration files (YAML or JSON) the inventory names in ``config_files``."""
    out = []
    for name in config_names(files):
        found = files.regular_files([name])
        if not found:
            raise TargetError(f"{files.label}: files.{files.name}.config_files names {name}, which is not a file in {files.path}")
        out += found
    return out


def _settings(files: FilesTarget) -> list[Setting]:
    """Every setting of the env files and the config files; n/a when the target has neither."""
    configs = _config_paths(files)
    envs = files.regular_files(env_names(files)) if configs else _env_paths(files)
    return read_settings(files.label, envs, configs)


def _sources(files: FilesTarget) -> str:
    """The files a target's settings come from, for n/a messages."""
    return ", ".join([*env_names(files), *config_names(files)])


@pytest.mark.check("cfg-01", "Debug flags off", severity="high", refs=("OWASP ASVS V14.3.2: debug modes disabled in production",),
                   answers=("debug off|disabl|false|no|not|turn", "debug_mode|debug_flag|debug_flags",
                            "django_debug|app_debug|flask_debug false|off|disabl"),
                   answers_unless=("log_level", "debug_endpoints", "debug console|route|path"))
def test_debug_off(files, evidence):
    """Debug mode shows tracebacks and settings to visitors, sometimes an interactive console,
    and slows the app down.  Fails on ``DEBUG``/``*_DEBUG`` set to anything but a false value
    (``DEBUG=*`` turns on the Node debug module) and on ``FLASK_ENV=development``."""
    found = []
    for s in _settings(files):
        if DEBUG_KEY.match(s.key) and s.value.lower() not in FALSY and not s.is_reference:
            found.append(f"{s.where} is {s.value!r}")
        elif s.key.upper() == "FLASK_ENV" and s.value.lower() == "development":
            found.append(f"{s.where} is 'development'")
    evidence.record(found=found)
    require(not found, files, "; ".join(found), "every debug flag off (DEBUG=false) in production")


@pytest.mark.check(
    "cfg-02", "Runtime environment is production", severity="medium", refs=("Express: production best practices (NODE_ENV)",),
                   answers=("production mode", "spring|quarkus|micronaut profile|profiles|environment|environments active|prod|production|dev|development|set?", "runtime_environment|node_env|rails_env|app_env|flask_env|mix_env|rack_env|go_env|django_env|aspnetcore_environment|mage_mode|spring_profiles_active production?", "environment production mode"),
                   answers_unless=("multi", "staging")
)
def test_production_environment(files, evidence):
    """``NODE_ENV``, ``RAILS_ENV``, ``APP_ENV`` and their kin switch frameworks between
    development conveniences (verbose errors, no caching, hot reload) and production
    behaviour.  Fails when one is set to anything but production, or when the folder holds a
    Node app (package.json) and no env file sets NODE_ENV; n/a when none is set otherwise.
    Java frameworks list profiles instead (``spring.profiles.active``, ``QUARKUS_PROFILE``,
    ``MICRONAUT_ENVIRONMENTS``): one must name production (``prod``, ``production``,
    ``eu-prod``) and none a development one (``dev``, ``local``, ``test``, ``h2``, ...)."""
    settings = _settings(files)
    wanted = {k.upper() for k in ENV_KEYS}
    declared = [s for s in settings if s.key.upper() in wanted and not s.is_reference]
    wrong = [f"{s.where} is {s.value!r}" for s in declared if s.value.lower() not in PRODUCTION]
    profiles = [s for s in settings if s.key.upper() in PROFILE_KEYS and not s.is_reference]
    for s in profiles:
        names = [p.strip() for p in s.value.split(",") if p.strip()]
        dev = [p for p in names if p.lower() in DEV_PROFILES]
        if dev or not any(PRODUCTION_PROFILE.search(p) for p in names):
            wrong.append(f"{s.where} is {s.value!r}" + (f" (development profile {', '.join(dev)})" if dev else " (no production profile)"))
    declared += profiles
    if (files.path / "package.json").is_file() and not any(s.key.upper() == "NODE_ENV" for s in settings):
        wrong.append(f"NODE_ENV is not set in {_sources(files)} of a Node app (package.json); Node defaults to development")
    evidence.record(declared={s.where: s.value for s in declared})
    if not declared and not wrong:
        not_applicable(f"{files.name}: no runtime-environment variable ({', '.join(ENV_KEYS[:4])}, ...) is set")
    require(not wrong, files, "; ".join(wrong), "production (set where the service manager cannot lose it, e.g. the env file)")


@pytest.mark.check("cfg-03", "Log level not debug", severity="medium", refs=("OWASP Logging Cheat Sheet",),
                   answers=("log_level not? debug? info|warn|warning|error? production?", "debug|verbose|trace logging disabl|off|not"),
                   answers_unless=("logging enabl", "runtime|dynamic|dynamically|restart|hot"))  # changing it live is a capability, not the level
def test_log_level(files, evidence):
    """Debug and trace logging writes request bodies, tokens and personal data to logs that
    are kept and shipped, and costs I/O.  Fails on ``LOG_LEVEL`` (and kin) at debug, trace,
    verbose or silly; n/a when no log level is set."""
    levels = [s for s in _settings(files) if LOG_KEY.match(s.key) and not s.is_reference]
    if not levels:
        not_applicable(f"{files.name}: no LOG_LEVEL (or similar) set in {_sources(files)}")
    verbose = [f"{s.where} is {s.value!r}" for s in levels if VERBOSE_LEVELS.search(s.value)]
    evidence.record(levels={s.where: s.value for s in levels})
    require(not verbose, files, "; ".join(verbose), "info or warn in production")


@pytest.mark.check(
    "cfg-04",
    "Signing secrets strong",
    severity="critical",
    refs=("OWASP ASVS V6.4: secret management", "RFC 7518 section 3.2: HMAC key size"),
                   answers=("jwt|session|signing|cookie|app|flask|django|rails secret|key character|char|length|random|entropy|bit|hex|openssl|rand? min?",
                            "secret_key_base|secret_key|app_key|jwt_secret|session_secret character|characters|chars|length|long|byte|bytes|bit|bits|random|entropy|strong|unique?",
                            "strong|random jwt|session|signing secret"),
                   answers_unless=("secret management|manager|vault", "rotation|rotate|rotated|rotating")  # a duty, not a strength
)
def test_secrets_strong(files, evidence):
    """Whoever guesses the JWT or session secret mints tokens for any user.  Each signing
    secret (JWT_SECRET, SESSION_SECRET, SECRET_KEY, APP_KEY, *_SIGNING_KEY, ...) must be at
    least ``secret_min_chars`` long, not placeholder text and not made of a handful of
    characters.  Values are never reported, only their length and kind."""
    minimum = files.threshold("secret_min_chars")
    secrets_found = [s for s in _settings(files) if SIGNING_SECRET.match(s.key) and not NOT_A_SECRET_VALUE.search(s.key)]
    if not secrets_found:
        not_applicable(f"{files.name}: no signing secret (JWT_SECRET, SESSION_SECRET, SECRET_KEY, ...) in {_sources(files)}")
    weak, checked, elsewhere = [], [], []
    for s in secrets_found:
        if s.is_reference:
            elsewhere.append(s.where)
            continue
        checked.append(f"{s.where}: {len(s.value)} characters")
        if not s.value:
            weak.append(f"{s.where} is empty")
        elif PLACEHOLDER.search(s.value):
            weak.append(f"{s.where} is placeholder text ({len(s.value)} characters)")
        elif len(s.value) < minimum:
            weak.append(f"{s.where} is {len(s.value)} characters")
        elif len(set(s.value)) < 8:
            weak.append(f"{s.where} uses only {len(set(s.value))} distinct characters")
    evidence.record(checked=checked, set_elsewhere=elsewhere)
    require(not weak, files, "; ".join(weak), f">= {minimum} characters of random data (e.g. openssl rand -base64 48)")


@pytest.mark.check(
    "cfg-05",
    "No default credentials",
    severity="critical",
    refs=("OWASP ASVS V2.5.4: no default accounts", "CWE-1392: use of default credentials"),
                   answers=("default_credentials", "example|sample|placeholder|default credential|password|secret", "default_credentials component|components|system|systems|service|services|server|servers|everywhere|host|hosts", "no|zero|none default_credentials"),
                   answers_unless=("hardcoded", "code")
)
def test_no_default_credentials(files, evidence):
    """Default passwords (admin/admin, postgres/postgres, password) are the first thing every
    scanner tries.  Fails on a ``*_PASSWORD`` that is empty, a well-known default or equal to its
    user name, and on a URL whose password is one of those.  Values are never reported."""
    settings = _settings(files)
    users = {m.group(1).upper(): s.value for s in settings if (m := USER_KEY.match(s.key))}
    found = []
    for s in settings:
        if s.is_reference:
            continue
        if PASSWORD_KEY.search(s.key):
            prefix = PASSWORD_KEY.sub("", s.key).rstrip("_").upper()
            kind = _weak_password(s.value, users.get(prefix))
            if kind:
                found.append(f"{s.where} is {kind}")
        elif match := URL_USERINFO.match(s.value):
            user, password = urllib.parse.unquote(match.group(1)), urllib.parse.unquote(match.group(2))
            kind = _weak_password(password, user)
            if kind and password:
                found.append(f"{s.where} is a URL whose password is {kind}")
    evidence.record(found=found)
    require(not found, files, "; ".join(found), "unique, generated passwords for every account")


def _weak_password(value: str, user: str | None) -> str | None:
    """The kind of weakness (never the value), or None."""
    if not value:
        return "empty"
    if value.lower() in DEFAULT_PASSWORDS:
        return "a well-known default password"
    if user and value.lower() == user.lower():
        return "the same as its user name"
    return None


@pytest.mark.check(
    "cfg-09",
    "Service passwords strong",
    severity="high",
    refs=("NIST SP 800-63B 5.1.1.2: memorized secret verifiers", "OWASP ASVS V2.10.4: service secrets not default, generated",
          "CIS Controls v8 5.2: Use unique passwords"),
    answers=("db|database|redis|broker|rabbitmq|mysql|postgres|service|smtp password|passwords strong|secure|long|length|character|random|complex|generated",
             "db_password|database_password|redis_password|service_password strong|secure|long|length|character|random|complex"),
    answers_unless=("policy", "user", "users", "hash", "hashing", "bcrypt", "rotat", "vault", "manager", "default", "hardcoded"),
)
def test_service_passwords_strong(files, evidence):
    """No one types a service password (DB_PASSWORD, REDIS_PASSWORD, the password in
    DATABASE_URL): it can be as long and random as a key, and a short one, or one made of a few
    characters, falls to an offline guess once a hash or a captured handshake leaks.  Each must be
    at least ``password_min_chars`` long (default 16) and use at least 8 distinct characters.
    Empty, well-known default and user-name passwords are cfg-05's findings and are not repeated
    here; a value set elsewhere (``${VAR}``) is listed, not judged.  Values are never reported."""
    minimum = files.threshold("password_min_chars")
    settings = _settings(files)
    users = {m.group(1).upper(): s.value for s in settings if (m := USER_KEY.match(s.key))}
    judged, weak, elsewhere, left = [], [], [], []
    for s in settings:
        if PASSWORD_KEY.search(s.key):
            if s.is_reference:
                elsewhere.append(s.where)
                continue
            where, password, user = s.where, s.value, users.get(PASSWORD_KEY.sub("", s.key).rstrip("_").upper())
        elif not s.is_reference and (match := URL_USERINFO.match(s.value)):
            where = f"{s.where} (its URL's password)"
            password, user = urllib.parse.unquote(match.group(2)), urllib.parse.unquote(match.group(1))
        else:
            continue
        if _weak_password(password, user):
            left.append(where)  # cfg-05 reports it
            continue
        judged.append(f"{where}: {len(password)} characters")
        if len(password) < minimum:
            weak.append(f"{where} is {len(password)} characters")
        elif len(set(password)) < 8:
            weak.append(f"{where} uses only {len(set(password))} distinct characters")
    if not (judged or elsewhere or left):
        not_applicable(f"{files.name}: no service password (*_PASSWORD, or a URL with a password) in {_sources(files)}")
    evidence.record(checked=judged, set_elsewhere=elsewhere, reported_by_cfg_05=left)
    require(not weak, files, "; ".join(weak), f">= {minimum} characters of random data for every service password "
                                              "(e.g. openssl rand -base64 24)")


@pytest.mark.check(
    "cfg-06",
    "CORS not open to every origin",
    severity="medium",
    refs=("OWASP HTML5 Security Cheat Sheet: CORS", "Mozilla Observatory: CORS"),
                   answers=("cors origin|wildcard|restrict|limit|allow|domain|trusted|polic|configur|header? wildcard? domain? limit?",)
)
def test_cors_restricted(files, evidence):
    """``Access-Control-Allow-Origin: *`` lets any site read the API's answers from a visitor's
    browser.  Fails on a CORS origin setting of ``*`` (alone or in a list) or a CORS allow-all
    flag that is on; n/a when no CORS setting is present."""
    settings = [s for s in _settings(files) if (CORS_KEY.match(s.key) or CORS_ALLOW_ALL.match(s.key)) and not s.is_reference]
    if not settings:
        not_applicable(f"{files.name}: no CORS origin setting (CORS_ORIGIN, CORS_ALLOWED_ORIGINS, ...) in {_sources(files)}")
    open_to_all = []
    for s in settings:
        if CORS_ALLOW_ALL.match(s.key):
            if s.value.lower() not in FALSY:
                open_to_all.append(f"{s.where} is {s.value!r}")
        elif "*" in re.split(r"[\s,]+", s.value):
            open_to_all.append(f"{s.where} allows '*'")
    evidence.record(settings={s.where: s.value for s in settings})
    require(not open_to_all, files, "; ".join(open_to_all), "the application's own origins listed explicitly")


@pytest.mark.check(
    "cfg-07", "Env files not readable by others", severity="high", refs=("CIS Benchmarks: sensitive file permissions", "12-factor: config"),
                   answers=("env_file|dotenv permission|readable|mode|600|640|chmod|owner|protect", "env_file not? world? readable")
)
def test_env_file_mode(files, evidence):
    """Env files hold the database password and the signing secrets; readable by every local
    account, one compromised service or user account gets them all.  Passes when no env file
    grants any permission to others (mode 0600 or 0640)."""
    modes, loose = {}, []
    for name, path in _env_paths(files):
        mode = stat.S_IMODE(path.stat().st_mode)
        modes[name] = f"{mode:04o}"
        if mode & 0o007:
            loose.append(
                f"{name} is mode {mode:04o} (readable by every local user)"
                if mode & 0o004
                else f"{name} is mode {mode:04o} (other users have access)"
            )
    evidence.record(modes=modes)
    require(not loose, files, "; ".join(loose), "mode 0600 or 0640 (chmod o= FILE)")


@pytest.mark.check("cfg-08", "Upload size limited", severity="low", refs=("OWASP File Upload Cheat Sheet", "nginx: client_max_body_size"),
                   answers=("max? request|body|payload|upload uploadsize|size limit|max|enforc|cap|capped", "upload_size limit? max?", "request|body|payload|upload|file size limit|max", "client_max_body_size"))
def test_upload_limit(files, evidence):
    """Without a request-size limit one client fills the disk or memory with a single upload.
    Passes when an env file sets an upload/body size limit (MAX_UPLOAD_SIZE, MAX_CONTENT_LENGTH,
    BODY_LIMIT, ...) or an nginx ``*.conf`` in the folder sets a non-zero
    ``client_max_body_size``; ``0``/unlimited values do not count."""
    names = env_names(files)
    settings = read_settings(files.label, files.regular_files(names), [])
    # Through regular_files: a FIFO or a device named *.conf is an error, never a read that blocks.
    confs = [path for _, path in files.regular_files(str(c.relative_to(files.path)) for c in _nginx_confs(files.path))]
    if not settings and not confs:
        not_applicable(f"{files.name}: neither {', '.join(names)} nor an nginx *.conf in {files.path}")
    limits, unlimited = [], []
    for s in settings:
        if UPLOAD_KEY.match(s.key) and not s.is_reference:
            (unlimited if s.value.lower() in UNLIMITED else limits).append(f"{s.where} = {s.value}")
    for conf in confs:
        text = read_text(files.label, conf)
        for match in CLIENT_MAX_BODY.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            where = f"client_max_body_size ({conf.relative_to(files.path)}:{line}) = {match.group(1)}"
            (unlimited if match.group(1) in ("0", "0k", "0m") else limits).append(where)
    evidence.record(limits=limits, unlimited=unlimited)
    require(
        limits,
        files,
        "no upload size limit" + (f" (unlimited: {'; '.join(unlimited)})" if unlimited else f" in {', '.join(names)} or an nginx *.conf"),
        "MAX_UPLOAD_SIZE (or the framework's equivalent) or nginx client_max_body_size set to what uploads need",
    )


def _nginx_confs(root: Path, max_depth: int = 3, max_files: int = 500) -> list[Path]:
    """``*.conf`` files under ``root`` (not in dependency or VCS folders), bounded in depth and count."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and depth < max_depth)
        found += [Path(folder) / n for n in sorted(names) if n.endswith(".conf")]
        if len(found) >= max_files:
            break
    return found[:max_files]


#: Longest the repository scan may take (git ls-files, the tracked files, git log -p).
SCAN_DEADLINE_S = 60.0


@pytest.mark.check("cfg-10", "No secrets committed to the repository", severity="high",
                   refs=("CWE-798: Use of Hard-coded Credentials", "OWASP ASVS V2.10.4: secrets not in source code",
                         "gitleaks: default rules"),
                   answers=("no? secret|secrets|credential|credentials|password|passwords yaml|json|properties|ini|toml", "no? secret|secrets|credential|credentials|password|passwords config|configur file|files", "secret|secrets|credential|credentials|key|keys|token|tokens|password|passwords commit|committed|git|repo|repository|source|code|vcs|hardcoded",
                            "no? hardcoded|hard_coded secret|secrets|credential|credentials|password|passwords",
                            "env|dotenv file commit|committed|git|repo|repository|gitignore|ignored",
                            "envfile|env_file|dotenv commit|committed|git|repo|repository|gitignore|ignored", "environment commit|committed|gitignore|ignored",
                            "secret|secrets scan|scanning|scanner|leak|leaks|gitleaks|trufflehog",
                            "sensitive value|values|data|config|configuration|information|setting|settings not? git|repo|repository|committed|commit|vcs",
                            "env|envfile|dotenv|secret|secrets|sensitive|credential|credentials file? data? not|no|excluded|ignored|out? version_control|source_control|git|gitignore"),
                   answers_unless=("docker", "dockerfile", "rotate", "rotation", "vault", "manager", "kms",
                                   "environment variable", "ci|pipeline variable|variables|store|stored|setting|settings|inject|injected|masked",
                                   "log", "logs"))
def test_no_committed_secrets(files, evidence):
    """A secret in a repository is known to everyone who can clone it, for good: deleting the
    file leaves it in history, and only rotating the secret helps.  When ``path`` is in a git
    work tree, reads the files tracked at HEAD and the lines added by the last
    ``secret_scan_history_commits`` commits of every branch (default 500), for what has a
    fixed shape: private keys, AWS access key ids, GitHub, GitLab, Slack, npm, SendGrid and
    Stripe live tokens, Google API keys; env files tracked by git (``.env``,
    ``.env.production``; ``.env.example`` and other templates are fine); and, outside docs and
    tests, a literal assigned to a password, secret, API key or token name (not a placeholder,
    a template or a reference to the environment).  Passes when none is
    found outside ``secret_scan_ignore`` (globs of repository paths, e.g. test fixtures).
    git runs with hooks, fsmonitor, external diff and textconv drivers off.  No value is ever
    shown: findings name the rule, file, line and commit.  Not applicable outside a git work tree."""
    if not secret_scan.in_work_tree(files.path):
        not_applicable(f"{files.name}: {files.path} is not in a git work tree: no commit to judge", unexamined=True)
    history = int(files.threshold("secret_scan_history_commits"))
    ignore = [str(g) for g in (files.setting("secret_scan_ignore") or ())]
    try:
        found = secret_scan.scan(files.path, history_commits=history, timeout=SCAN_DEADLINE_S, ignore=ignore)
    except secret_scan.ScanError as exc:
        raise TargetError(f"{files.label}: the repository could not be scanned: {exc}") from None
    evidence.record(repository=found.root, files_read=found.files_read, not_read=list(found.skipped[:20]),
                    commits_read=found.commits, history_cut=found.history_cut, ignored=ignore,
                    findings=[{"rule": f.rule, "path": f.path, "line": f.line, "commit": f.commit} for f in found.findings[:50]])
    shown = "; ".join(f.describe() for f in found.findings[:8]) + (f"; and {len(found.findings) - 8} more" if len(found.findings) > 8 else "")
    scope = f"HEAD and the last {found.commits} commit(s)" + (" (older history not read)" if found.history_cut else "")
    require(not found.findings, files, f"{len(found.findings)} secret(s) committed in {found.root} ({scope}): {shown}",
            "no secret in the files tracked by git or in the lines the history added (rotate any found, then remove it)")


#: Settings that point an application at an error tracker: (tracker, key pattern).
ERROR_TRACKERS = (
    ("Sentry", re.compile(r"^(?:[A-Z0-9]+_)*SENTRY_DSN$", re.I)),
    ("GlitchTip", re.compile(r"^(?:[A-Z0-9]+_)*GLITCHTIP_DSN$", re.I)),
    ("Rollbar", re.compile(r"^(?:[A-Z0-9]+_)*ROLLBAR_(?:ACCESS_|SERVER_|POST_SERVER_ITEM_)?TOKEN$", re.I)),
    ("Bugsnag", re.compile(r"^(?:[A-Z0-9]+_)*BUGSNAG_API_KEY$", re.I)),
    ("Honeybadger", re.compile(r"^(?:[A-Z0-9]+_)*HONEYBADGER_API_KEY$", re.I)),
    ("Airbrake", re.compile(r"^(?:[A-Z0-9]+_)*AIRBRAKE_PROJECT_KEY$", re.I)),
    ("Raygun", re.compile(r"^(?:[A-Z0-9]+_)*RAYGUN_API_?KEY$", re.I)),
    ("AppSignal", re.compile(r"^(?:[A-Z0-9]+_)*APPSIGNAL_PUSH_API_KEY$", re.I)),
    ("New Relic", re.compile(r"^(?:[A-Z0-9]+_)*NEW_RELIC_LICENSE_KEY$", re.I)),
    ("Elastic APM", re.compile(r"^(?:[A-Z0-9]+_)*ELASTIC_APM_SERVER_URL$", re.I)),
)
#: A tracker's SDK named in a dependency manifest of the folder: (tracker, manifest line pattern).
TRACKER_SDKS = re.compile(r"""(?ix)(?:^|["'\s/:=])(
    @sentry/[a-z-]+|sentry[-_]sdk|sentry-ruby|sentry-rails|sentry-go|sentry/sentry(?:-laravel|-symfony)?|io\.sentry|
    rollbar|pyrollbar|@bugsnag/[a-z-]+|bugsnag|honeybadger(?:-io)?|@honeybadger-io/[a-z-]+|airbrake|raygun4?[a-z]*|appsignal|
    newrelic|elastic-apm(?:-node)?)(?=["'\s=<>~!\[;,@]|$)""")
DEPENDENCY_MANIFESTS = ("package.json", "requirements.txt", "requirements/production.txt", "pyproject.toml", "Pipfile", "Gemfile",
                        "go.mod", "composer.json", "pom.xml", "build.gradle", "build.gradle.kts", "mix.exs", "Cargo.toml")
SENTRY_DSN = re.compile(r"^https?://[^:@/\s]+(?::[^@/\s]*)?@[^/\s]+/(?:[^/\s]+/)*\d+/?$")


def _tracker_sdks(files: FilesTarget) -> list[str]:
    """``sentry-sdk (requirements.txt)``: error-tracker SDKs the folder's dependency manifests name."""
    found = []
    for name, path in files.regular_files(DEPENDENCY_MANIFESTS):
        try:
            text = read_text(files.label, path)
        except TargetError:
            continue  # an unreadable manifest only costs the hint
        found += [f"{sdk} ({name})" for sdk in dict.fromkeys(m.group(1) for m in TRACKER_SDKS.finditer(text))]
    return found


@pytest.mark.check("cfg-11", "Errors reported to an error tracker", severity="medium",
                   refs=("OWASP ASVS V7.1: log content", "Google SRE Book: Monitoring Distributed Systems"),
                   answers=("apm", "insight|insights connected|configur|enabl|set|key", "error|errors|failur|exception|exceptions|crash|crashes|dead report|reported|sent|tracked|captured|go errortracking", "error tracking|tracker|reporting|monitoring configur|integrat|enabl|set_up|service|in_place?",
                            "sentry|rollbar|bugsnag|honeybadger|airbrake|raygun|glitchtip|appsignal configur|integrat|enabl|set_up|dsn|connected?",
                            "exception tracking|reporting|monitoring", "crash reporting",
                            "exception|exceptions|error|errors|crash|crashes errortracking notif|report|sent|go?",
                            "new_relic|newrelic|elastic_apm apm? configur|report|reporting|integrat|enabl|install|connected|key?"),
                   answers_unless=("frontend|browser|mobile|ios|android|crashlytics|firebase|appcenter|instabug", "alert", "review", "triage",
                                   "rate|rates|ratio|budget"),
                   # "error monitoring in place" is an error tracker; "exception notifications go to Sentry" too
                   answers_accepts=("monitor", "alert"))
def test_error_tracking(files, evidence):
    """An exception in production that nobody is told about is found by the customer.  An
    error tracker (Sentry, Rollbar, Bugsnag, ...) groups exceptions with their stack and
    context and notifies.  Passes when the deployed configuration points the application at one:
    a ``SENTRY_DSN`` that is a DSN (or another tracker's key: ``ROLLBAR_ACCESS_TOKEN``,
    ``BUGSNAG_API_KEY``, ``HONEYBADGER_API_KEY``, ``NEW_RELIC_LICENSE_KEY``, ...) with a value
    that is not empty or placeholder text, or a reference to the environment (``${SENTRY_DSN}``).
    An SDK in the dependencies with nothing configured reports nothing: it fails, naming the SDK.
    Values are never shown."""
    settings = _settings(files)
    trackers = [(tracker, s) for s in settings for tracker, key in ERROR_TRACKERS if key.match(s.key)]
    sdks = _tracker_sdks(files)
    usable, problems = [], []
    for tracker, s in trackers:
        if s.is_reference:
            usable.append(f"{tracker}: {s.where} set from the environment")
        elif not s.value.strip():
            problems.append(f"{s.where} is empty")
        elif PLACEHOLDER.search(s.value):
            problems.append(f"{s.where} is placeholder text ({len(s.value)} characters)")
        elif tracker in ("Sentry", "GlitchTip") and not SENTRY_DSN.match(s.value):
            problems.append(f"{s.where} is not a DSN (https://<key>@<host>/<project id>)")
        else:
            usable.append(f"{tracker}: {s.where}")
    evidence.record(configured=usable, not_usable=problems, sdks=sdks)
    if usable:
        return
    if problems:
        observed = "; ".join(problems)
    else:
        observed = f"no error tracker configured in {_sources(files)}" + (f" although {', '.join(sdks[:3])} is a dependency" if sdks else "")
    require(False, files, observed, "a usable SENTRY_DSN (or another tracker's key) in the deployed configuration")


#: Values only a provider's test or sandbox mode takes: a key's own prefix, or the sandbox's address.
SANDBOX_VALUES = (
    ("Stripe", re.compile(r"^(?:sk|pk|rk)_test_\w")),
    ("Razorpay", re.compile(r"^rzp_test_\w")),
    ("Checkout.com", re.compile(r"^(?:sk|pk)_sbox_\w")),
    ("Paddle", re.compile(r"^pdl_sdbx_")),
    ("Square", re.compile(r"^sandbox-sq0|squareupsandbox\.com", re.I)),
    ("PayPal", re.compile(r"(?:^|[/.])sandbox\.paypal\.com|api-m\.sandbox\.paypal\.com", re.I)),
    ("Braintree", re.compile(r"sandbox\.braintreegateway\.com", re.I)),
    ("Adyen", re.compile(r"(?:checkout|pal|management)-test\.adyen\.com|\.adyen\.com/.*-test", re.I)),
    ("Authorize.Net", re.compile(r"apitest\.authorize\.net", re.I)),
    ("Plaid", re.compile(r"sandbox\.plaid\.com", re.I)),
    ("Klarna", re.compile(r"api(?:-na|-oc)?\.playground\.klarna\.com", re.I)),
)
#: Values only the live mode takes.
LIVE_VALUES = (
    ("Stripe", re.compile(r"^(?:sk|pk|rk)_live_\w")),
    ("Razorpay", re.compile(r"^rzp_live_\w")),
    ("Paddle", re.compile(r"^pdl_live_")),
)
PAYMENT_PROVIDERS = r"STRIPE|PAYPAL|BRAINTREE|ADYEN|SQUARE|PLAID|PADDLE|RAZORPAY|MOLLIE|KLARNA|CKO|AUTHORIZE(?:_?NET)?|PAYMENTS?"
PROVIDER_KEY = re.compile(rf"(?:^|_)(?:{PAYMENT_PROVIDERS})(?:_|$)", re.I)
#: ``PAYPAL_MODE=sandbox``, ``BRAINTREE_ENVIRONMENT=sandbox``, ``ADYEN_ENVIRONMENT=TEST``.
MODE_KEY = re.compile(rf"^(?:[A-Z0-9]+_)*(?:{PAYMENT_PROVIDERS})(?:_[A-Z0-9]+)*_(?:MODE|ENV|ENVIRONMENT)$", re.I)
SANDBOX_MODES = frozenset({"sandbox", "test", "testing", "development", "dev", "staging", "playground"})
#: ``STRIPE_TEST_MODE=true``, ``PAYPAL_SANDBOX=1``, ``PAYMENT_USE_SANDBOX=yes``.
SANDBOX_FLAG = re.compile(rf"^(?:[A-Z0-9]+_)*(?:{PAYMENT_PROVIDERS})(?:_[A-Z0-9]+)*_(?:SANDBOX|TEST_?MODE|USE_SANDBOX)$", re.I)


PROVIDER_NAMES = {"PAYPAL": "PayPal", "CKO": "Checkout.com", "AUTHORIZE": "Authorize.Net", "AUTHORIZENET": "Authorize.Net",
                  "AUTHORIZE_NET": "Authorize.Net", "PAYMENT": "the payment provider", "PAYMENTS": "the payment provider"}


def _provider_of(key: str) -> str:
    """The provider a setting's name names: ``PAYPAL_MODE`` -> PayPal."""
    found = PROVIDER_KEY.search(key)
    word = found.group(0).strip("_").upper() if found else "PAYMENT"
    return PROVIDER_NAMES.get(word, word.title())


@pytest.mark.check("cfg-12", "Payment providers in live mode", severity="high",
                   refs=("Stripe docs: API keys, test mode and live mode", "PayPal REST APIs: sandbox and live environments",
                         "PCI DSS v4.0 6.5.5: live data not used in pre-production, test data not in production"),
                   answers=("payment|payments provider|gateway|processor|stripe|paypal|braintree|adyen|checkout live|production mode|key|keys|credentials?",
                            "stripe|paypal|braintree|adyen|square|razorpay|paddle|mollie|klarna live|production key|keys|mode|credentials",
                            "test|sandbox key|keys|credentials|mode remov|disabl|off|not|no|replaced|swap|switch",
                            "sandbox mode|environment disabl|off|remov|not|no",
                            "payment|payments gateway|provider|stripe|paypal production|live switch|swap|configur|enabl?"),
                   answers_unless=("test card|cards", "webhook", "refund", "payout", "ssh|gpg|pgp|signing|deploy"))
def test_payments_live(files, evidence):
    """A Stripe test key or a PayPal sandbox in production takes orders that nobody pays for: the
    checkout "succeeds" with a test card, the real customer's card is refused, and the shop ships
    either way until someone reconciles the bank account.  Fails on a key only the test mode takes
    (``sk_test_``/``pk_test_``/``rk_test_`` for Stripe, ``rzp_test_`` for Razorpay, ``sk_sbox_`` for
    Checkout.com, ``pdl_sdbx_`` for Paddle, ``sandbox-sq0`` for Square), an address of a provider's
    sandbox (``api-m.sandbox.paypal.com``, ``sandbox.braintreegateway.com``, ``checkout-test.adyen.com``,
    ``squareupsandbox.com``, ``apitest.authorize.net``, ``sandbox.plaid.com``, Klarna's playground), a
    mode setting of a payment provider (``PAYPAL_MODE``, ``BRAINTREE_ENVIRONMENT``, ``ADYEN_ENVIRONMENT``,
    ...) set to sandbox or test, or a provider's sandbox flag set.  Passes when a setting says live
    (a live key such as ``sk_live_``, or a mode setting of ``live``/``production``) and none says
    test.  Settings that say neither cannot be judged (PayPal's and Braintree's SDKs default to the
    sandbox): the result says so.  Values are never shown: a finding names the setting, its
    file and line, and the kind of value ("a Stripe test key")."""
    settings = _settings(files)
    sandbox, live, hidden, seen = [], [], [], []
    for s in settings:
        value = s.value.strip().strip("'\"")
        test = next((p for p, pattern in SANDBOX_VALUES if pattern.search(value)), None)
        if test:
            sandbox.append(f"{s.where} is a {test} test or sandbox value")
            continue
        provider_key = PROVIDER_KEY.search(s.key) is not None
        if MODE_KEY.match(s.key) and not s.is_reference:
            if value.lower() in SANDBOX_MODES:
                sandbox.append(f"{s.where} puts {_provider_of(s.key)} in {value.lower()} mode")
            elif value.lower() in PRODUCTION:
                live.append(f"{s.where} is {value.lower()}")
            else:
                seen.append(s.where)  # empty or unknown: the SDK's default decides, often the sandbox
            continue
        if SANDBOX_FLAG.match(s.key) and not s.is_reference:
            if value.lower() not in FALSY:
                sandbox.append(f"{s.where} turns on {_provider_of(s.key)}'s sandbox")
            else:
                live.append(f"{s.where} is off")
            continue
        kind = next((p for p, pattern in LIVE_VALUES if pattern.search(value)), None)
        if kind:
            live.append(f"{s.where} is a {kind} live key")
        elif provider_key and s.is_reference:
            hidden.append(f"{s.where} is set from the environment")
        elif provider_key:
            seen.append(s.where)
    evidence.record(test_mode=sandbox, live=live, from_environment=hidden, other_payment_settings=seen)
    require(not sandbox, files, "; ".join(sandbox), "only live keys and live endpoints of the payment providers in production")
    if live:
        return
    if seen or hidden:
        # PayPal's and Braintree's SDKs default to the sandbox: settings that do not say "live" are no evidence.
        named = ", ".join([*seen, *(h.split(" is set")[0] for h in hidden)][:4])
        not_applicable(f"{files.name}: payment settings {named}, but none that says live or test (a live key, or a mode "
                       "setting such as PAYPAL_MODE=live)", unexamined=True)
    not_applicable(f"{files.name}: no payment provider settings in {_sources(files)}", unexamined=True)


LOCK_MAX_BYTES = 32 * 1024 * 1024  # a lock file larger than this is not read for the npm sync test (its presence still counts)


@pytest.mark.check("cfg-13", "Dependencies locked to exact versions", severity="medium",
                   refs=("OWASP Top 10 2021 A06 / A08: vulnerable components, software and data integrity failures",
                         "SLSA: pinned, verified dependencies", "npm docs: package-lock.json and npm ci", "pip docs: repeatable installs"),
                   answers=("dependency|dependencies|package|packages explicitly? declared|pinned|locked|isolated|frozen", "dependency|dependencies|package|packages|library|libraries|requirement|requirements pin|pinned|lock|locked|fixed|exact",
                            "lockfile|lock_file|lockfiles|lock_files|package_lock|package_lock_json|poetry_lock|gemfile_lock|yarn_lock|go_sum|composer_lock commit|checked|present|exist|repository|repo|git|version_control?",
                            "reproducible|deterministic build|builds|install|installs",
                            "requirement|requirements hash|hashes", "version|versions pinned|locked dependency|dependencies|package|packages"),
                   answers_unless=("image|images|docker|container|containers|base|tag|tags|digest", "update|updates|updated|upgrade|renovate|dependabot",
                                   "vulnerab|audit|cve|scan", "licen"))
def test_dependencies_locked(files, evidence):
    """A manifest without a lock file lets every build install whatever the registry serves that
    day: a new minor release, a yanked one, or a compromised one (the event-stream and ua-parser-js
    incidents arrived as ordinary updates).  For each dependency manifest in the folder (package.json,
    pyproject.toml, Pipfile, Gemfile, go.mod, composer.json, Cargo.toml, mix.exs) that declares
    dependencies, a lock file of its tool must stand beside it; requirements files must pin every
    requirement with ``==`` (or a VCS URL to a full commit) unless a Python lock file is there;
    and ``package-lock.json`` must record every dependency ``package.json`` asks for (else ``npm
    ci`` refuses to install).  Not applicable when the folder holds no dependency manifest."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    python_lock = [name for name, _ in files.regular_files(("poetry.lock", "uv.lock", "pdm.lock", "pylock.toml", "Pipfile.lock"))]
    # each requirements file: (requirements not pinned, every one hashed), read once
    requirements = {name: lockfiles.unpinned_requirements(read_text(files.label, path))
                    for name, path in files.regular_files(lockfiles.REQUIREMENTS)}
    for ecosystem in lockfiles.ECOSYSTEMS:
        for name, path in files.regular_files(ecosystem.manifests):
            text = read_text(files.label, path)
            if not ecosystem.declares.search(text):
                continue
            locks = files.regular_files(ecosystem.locks)
            if not locks:
                if ecosystem.name == "Python (pyproject)" and requirements and not any(loose for loose, _ in requirements.values()):
                    seen[name] = "installs from pinned requirements"
                    continue
                problems.append(f"{name} declares dependencies and no lock file stands beside it ({', '.join(ecosystem.locks[:4])})")
                continue
            seen[name] = ", ".join(lock for lock, _ in locks)
            lock_name, lock_path = locks[0]
            if lock_name == "package-lock.json" and lock_path.stat().st_size <= LOCK_MAX_BYTES:
                missing = lockfiles.npm_unlocked(text, lock_path.read_text(encoding="utf-8", errors="replace"))
                if missing:
                    problems.append(f"package-lock.json does not record {', '.join(missing[:5])}"
                                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                                    + " that package.json asks for: the lock is older than the manifest")
    for name, (loose, hashed) in requirements.items():
        seen[name] = "hashes on every requirement" if hashed else "pinned" if not loose else f"{len(loose)} not pinned"
        if loose and not python_lock:
            problems.append(f"{name} does not pin {', '.join(loose[:5])}" + (f" and {len(loose) - 5} more" if len(loose) > 5 else ""))
    evidence.record(manifests=seen, problems=problems)
    if not seen and not problems:
        not_applicable(f"{files.name}: no dependency manifest that declares dependencies in {files.path} "
                       f"({', '.join(m for e in lockfiles.ECOSYSTEMS for m in e.manifests)}, requirements.txt)", unexamined=True)
    require(not problems, files, "; ".join(problems), "a lock file beside every dependency manifest, and exact pins in requirements files")
