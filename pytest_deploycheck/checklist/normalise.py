"""Text normalisation shared by checklist items and phrases: one spelling per concept.

Lowercase ASCII words; British to American spelling; abbreviations and vendor names folded to one word
(ssl -> tls, db -> database, pg/postgresql -> postgres, k8s -> kubernetes, env -> environment); fixed
multi-word terms joined into one token (role based access control -> rbac, rate limiting -> ratelimit);
light stemming (plurals, -ed, -ing, -ation).  Items and phrases go through the same functions, so how a
word is stemmed matters less than that it is stemmed the same way on both sides.
"""

from __future__ import annotations

import re
import unicodedata

from pytest_deploycheck.checklist.compounds import COMPOUNDS as _COMPOUNDS

_BRITISH = {
    "behaviour": "behavior", "colour": "color", "honour": "honor", "favour": "favor", "labour": "labor",
    "licence": "license", "licences": "licenses", "defence": "defense", "offence": "offense",
    "analyse": "analyze", "analysed": "analyzed", "analysing": "analyzing", "catalogue": "catalog",
    "centre": "center", "programme": "program", "grey": "gray", "cheque": "check", "judgement": "judgment",
    "enrol": "enroll", "enrolment": "enrollment", "travelling": "traveling", "cancelled": "canceled",
    "modelling": "modeling", "labelled": "labeled", "artefact": "artifact", "artefacts": "artifacts",
}
# -ise words that are not British -ize spellings.
_ISE_KEEP = {
    "promise", "exercise", "enterprise", "otherwise", "advertise", "raise", "noise", "precise", "concise",
    "premise", "expertise", "franchise", "merchandise", "comprise", "surprise", "revise", "supervise",
    "compromise", "advise", "devise", "disguise", "improvise", "praise", "televise", "chastise", "wise",
    "likewise", "clockwise", "rise", "arise", "poise", "cruise", "bruise", "despise", "incise", "excise",
}
# One word for what SREs abbreviate or spell several ways.  Values may be several words.
_SYNONYMS: dict[str, str] = {
    "ssl": "tls", "tls1": "tls", "cert": "certificate", "certs": "certificate", "x509": "certificate",
    "db": "database", "dbs": "database", "rdbms": "database",
    "pg": "postgres", "postgresql": "postgres", "psql": "postgres", "pgsql": "postgres", "pgbouncer": "pgbouncer",
    "mariadb": "mysql",
    "k8s": "kubernetes", "kube": "kubernetes",
    "env": "environment", "envs": "environment", "var": "variable", "vars": "variable", "envvar": "environment variable",
    "dotenv": "environment file", "config": "configuration", "conf": "configuration", "cfg": "configuration",
    "configs": "configuration", "settings": "setting",
    "repo": "repository", "creds": "credential", "pw": "password", "pwd": "password", "passwd": "password",
    "passwords": "password", "passphrase": "password", "cookies": "cookie",
    "authn": "authentication", "authz": "authorization", "authorisation": "authorization",
    "2fa": "mfa", "totp": "mfa",
    "letsencrypt": "letsencrypt", "acme": "letsencrypt", "certbot": "letsencrypt",
    "expiration": "expiry", "expire": "expiry", "expires": "expiry", "expired": "expiry", "expiring": "expiry",
    "renewal": "renew", "renewed": "renew", "renewing": "renew", "renews": "renew",
    "ttl": "lifetime",
    "sshd": "ssh", "openssh": "ssh",
    "ufw": "firewall", "iptables": "firewall", "nftables": "firewall", "firewalld": "firewall",
    "sshguard": "fail2ban", "crowdsec": "fail2ban",
    "ntp": "time sync", "chrony": "time sync", "ntpd": "time sync", "timesyncd": "time sync",
    "unattended": "automatic", "auto": "automatic", "automated": "automatic", "automatically": "automatic",
    "ram": "memory", "mem": "memory", "vcpu": "cpu", "vcpus": "cpu", "cores": "cpu", "core": "cpu", "processor": "cpu",
    "storage": "disk", "filesystem": "disk", "filesystems": "disk",
    "healthcheck": "health check", "healthchecks": "health check", "healthz": "health", "livez": "liveness", "readyz": "readiness",
    "liveness": "liveness", "readiness": "readiness", "livenessprobe": "liveness probe", "readinessprobe": "readiness probe",
    "poddisruptionbudget": "pdb", "poddisruptionbudgets": "pdb", "connectivity": "connection", "connected": "connection",
    "e2e": "endtoend",
    "logrotate": "log rotation", "syslog": "log",
    "websocket": "websocket", "websockets": "websocket", "ws": "websocket", "wss": "websocket",
    "uptimerobot": "uptime", "pingdom": "uptime", "betteruptime": "uptime", "statuscake": "uptime",
    "gzip": "compression", "brotli": "compression", "compressed": "compression", "compress": "compression",
    "dlq": "deadletter",
    "rollback": "rollback", "rollbacks": "rollback", "revert": "rollback", "downgrade": "rollback",
    "runbooks": "runbook", "playbook": "runbook", "playbooks": "runbook",
    "oncall": "on call", "pager": "on call", "pagerduty": "on call", "opsgenie": "on call",
    "eng": "engineering", "engg": "engineering", "sre": "operations", "devops": "operations", "ops": "operations", "operator": "operations", "operators": "operations",
    "signoff": "approval", "approve": "approval", "approved": "approval", "approvals": "approval", "lgtm": "approval",
    "gdpr": "gdpr", "dsgvo": "gdpr", "ccpa": "gdpr", "pii": "personal data",
    "terms": "tos", "eula": "tos",
    "prom": "prometheus", "grafana": "grafana", "alertmanager": "alertmanager",
    "alerting": "alert", "alerts": "alert", "alerted": "alert",
    "monitored": "monitor", "monitoring": "monitor", "monitors": "monitor",
    "fw": "firewall", "backout": "rollback", "brakeman": "sast", "gosec": "sast", "spotbugs": "sast",
    "govulncheck": "depscan", "sca": "depscan", "cvss": "vulnerability",
    "cve": "vulnerability", "cves": "vulnerability", "vuln": "vulnerability", "vulns": "vulnerability",
    "vulnerabilities": "vulnerability",
    "secrets": "secret", "apikey": "api key",
    "wildcard": "wildcard", "wildcards": "wildcard",
    "upgrades": "update", "upgrade": "update", "updates": "update", "patch": "update", "patches": "update",
    "patched": "update", "patching": "update", "updated": "update", "upgraded": "update",
    "mysqld": "mysql",
    "redis": "redis", "valkey": "redis", "keydb": "redis",
    "nginx": "webserver", "apache": "webserver", "caddy": "webserver", "httpd": "webserver",
    "haproxy": "load balancer", "lb": "load balancer", "alb": "load balancer", "elb": "load balancer",
    "backups": "backup", "snapshot": "backup", "snapshots": "backup", "dump": "backup", "dumps": "backup",
    "pg_dump": "backup", "pgdump": "backup", "mysqldump": "backup",
    "restoration": "restore", "restored": "restore", "restores": "restore", "restoring": "restore",
    "drills": "drill", "rehearsal": "drill", "rehearsed": "drill", "gameday": "drill",
    "p95": "percentile", "p99": "percentile", "p90": "percentile", "percentile": "percentile",
    "latency": "response time",
    "hashed": "hash", "hashing": "hash", "hashes": "hash",
    "bcrypt": "password hash", "argon2": "password hash", "argon2id": "password hash", "scrypt": "password hash",
    "pbkdf2": "password hash", "scram": "scram",
    "hsts": "hsts", "csp": "csp", "xfo": "xfo",
    "minimal": "least", "minimum": "min", "maximum": "max",
    "superuser": "superuser", "admin": "admin", "administrator": "admin", "administrative": "admin",
    "administrators": "admin", "admins": "admin",
    "celerybeat": "celery beat", "cron": "schedule", "crontab": "schedule", "scheduler": "schedule",
    "scheduled": "schedule",
    "sast": "sast", "semgrep": "sast", "bandit": "sast", "codeql": "sast", "sonarqube": "sast",
    "snyk": "dependency scan", "dependabot": "dependency scan", "trivy": "image scan", "grype": "image scan",
    "linter": "lint", "linting": "lint", "eslint": "lint", "ruff": "lint", "flake8": "lint", "rubocop": "lint",
    "pylint": "lint", "golangci": "lint",
    "mypy": "type check", "tsc": "type check", "typecheck": "type check", "typescript": "typescript",
    "k6": "load test", "locust": "load test", "jmeter": "load test", "gatling": "load test", "artillery": "load test",
    "vegeta": "load test", "wrk": "load test",
    "hpa": "autoscaling", "autoscaler": "autoscaling", "autoscale": "autoscaling", "autoscaled": "autoscaling",
    "pdb": "disruption budget", "pvc": "persistent volume", "pvcs": "persistent volume", "pv": "persistent volume",
    "netpol": "network policy", "networkpolicy": "network policy", "networkpolicies": "network policy",
    "sbom": "sbom", "cyclonedx": "sbom", "spdx": "sbom",
    "sha256": "checksum", "md5sum": "checksum", "sha256sum": "checksum", "checksums": "checksum", "hash_check": "checksum",
    "jsonschema": "schema validation",
    "h2": "http2", "http2": "http2",
    "oomkilled": "oom kill", "oomkill": "oom kill", "oomkills": "oom kill", "oomkiller": "oom killer",
    "bullmq": "bullmq", "sidekiq": "sidekiq", "rq": "rq", "resque": "resque", "morgue": "deadletter",
    "jwts": "jwt",
    "pgbouncer_pool": "connection pool", "pooling": "pool", "pooler": "pool",
}
# Fixed multi-word terms, folded to one token before stemming (longest first).
_FILLER = {
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "from", "by", "at", "as", "is", "are", "be",
    "been", "being", "has", "have", "had", "it", "its", "this", "that", "these", "those", "all", "any", "each", "every",
    "our", "we", "your", "you", "if", "applicable", "eg", "e", "g", "ie", "i", "etc", "via", "using", "use", "per",
    "into", "only", "also", "both", "there", "their", "them", "they", "when", "where", "which", "who", "will", "can",
    "may", "should", "must", "shall", "do", "does", "done", "not", "no", "yes", "none", "nothing", "without", "within",
    "across", "against", "after", "before", "than", "then", "so", "such", "other", "own", "same", "more", "most",
    "configur", "setup", "enabl", "implement", "work", "functional", "operational", "ready", "complet",
    "inplace", "establish", "verifi", "verify", "confirm", "ensur", "ensure", "check", "requir", "need", "needed",
    "appropriat", "appropriately", "proper", "properly", "correct", "correctly", "production", "prod", "live",
    "golive", "install", "deploy", "deployed", "running", "run", "available", "exist", "present", "set", "defin",
    "define", "document", "documented", "documentation", "doc", "test", "tested", "testing", "review", "reviewed",
    "update", "current", "up", "date", "add", "addition", "creat", "create", "generat", "generate", "make", "ok",
    "good", "fine", "new", "currently", "recommended", "optional", "least", "min", "max", "minimum",
    "maximum", "strong", "secure", "securely", "safe", "fully", "full", "well", "real", "time", "real-time", "basic",
    "standard", "strategy", "plan", "policy", "procedure", "process", "step", "steps", "item", "items", "required",
    "mandatory", "important", "critical", "high", "low", "medium", "phase", "stage", "todo", "tbd", "wip", "pass",
    "passing", "passed", "success", "successful", "successfully", "met", "achiev", "approval", "approv",
    "environment", "system", "service", "application", "app", "server", "platform", "infrastructure", "infra",
    "remove", "removed", "change", "changed", "replace", "replaced", "necessary", "expect", "expected", "like",
    "similar", "appropriate", "sufficient", "enough", "place", "relevant", "specific", "actual", "known",
    "http", "header", "headers", "return", "returns", "tuned", "tune", "include", "includes", "included",
    "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months",
    "year", "years", "ms", "sec", "secs", "mins", "hrs", "gb", "mb", "kb", "tb", "percent", "pct", "x",
    "regular", "regularly", "everywhere", "above", "below", "true", "plus", "perform", "performed", "conducted", "carried", "added", "once", "policies", "prepar", "prepared", "prepare", "maintain", "maintained", "handl", "handle", "handling", "management", "manag",
}

# Intent words: what kind of evidence an item asks for.
_INTENT_WORDS: dict[str, set[str]] = {
    # Not "write": "only the partner can write" is a permission ("written" stays).
    "document": {"document", "documented", "documentation", "doc", "docs", "written", "wiki", "diagram",
                 "describ", "describe", "plan", "procedure", "strategy",
                 "guide", "runbook", "readme", "spec", "specification", "agreed", "considered", "consider", "architecture",
                 "design", "designed",
                 "planned", "planning"},
    "test": {"test", "tested", "testing", "drill", "exercis", "exercise", "simulat", "simulate", "practice", "restoretest", "restorable",
             "practic", "tried", "trial"},
    # Alertmanager names the intent too: "Alertmanager routes to PagerDuty" is about alerting (PagerDuty
    # and Opsgenie normalise to "oncall", which is about people as often as alerts).
    "alert": {"alert", "notif", "notification", "notify", "paging", "alertmanager"},
    "monitor": {"monitor", "dashboard", "metric", "graph", "observ", "observability", "tracked", "track", "trend", "scrape", "scraped",
                "collect", "collected", "collection", "grafana", "prometheus", "uptime", "blackbox", "synthetic"},
    "approve": {"approval", "approv", "gonogo", "nogo", "go", "accept", "acceptance"},
}
_CADENCE = re.compile(r"^\s*(daily|weekly|monthly|quarterly|yearly|annually|biweekly|every\s+\w+)\b\s*[:\-–—]", re.I)

_WORD = re.compile(r"[a-z0-9]+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return text


def _british(word: str) -> str:
    if word in _BRITISH:
        return _BRITISH[word]
    m = re.match(r"^(\w{3,})is(e|ed|es|ing|ation|ations|er|ers)$", word)
    if m and f"{m.group(1)}ise" not in _ISE_KEEP:
        return f"{m.group(1)}iz{m.group(2)}"
    return word


_STEM_KEEP = {
    "https", "redis", "status", "analysis", "bus", "alias", "kubernetes", "jenkins", "postgres", "always", "this",
    "its", "has", "was", "is", "as", "us", "yes", "less", "access", "process", "success", "address", "ssl", "tls",
    "cors", "xss", "dns", "aws", "gcs", "ios", "os", "sla", "slo", "rto", "rpo", "series", "canvas", "nodejs", "js",
    "sms", "ms", "ops", "tos", "rails", "express", "celery", "sentry", "s3", "ses", "sqs", "sns", "ecs", "eks",
    "gdpr", "csrf", "sso", "mfa", "rbac", "hsts", "csp", "xfo", "ocsp", "sbom", "sast", "debug", "tests", "beat",
    "bullmq", "sidekiq", "nginx", "kex", "cipher", "wal", "pitr", "eol", "fail2ban", "x11", "need", "speed", "feed",
    "seed", "red", "bed", "shed", "embed", "shred", "hundred", "sing", "string", "thing", "king", "ring", "bring",
    "during", "nothing", "something", "everything", "ping", "ceiling", "ingress", "lint", "used", "needed", "coverage",
    "percentile", "bcrypt", "planned", "planning",
}


# The compounds by their first word, longest first (as in COMPOUNDS), so a word is compared only
# with the terms it can start.
_COMPOUNDS_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _parts, _joined in _COMPOUNDS:
    _COMPOUNDS_BY_FIRST.setdefault(_parts[0], []).append((_parts, _joined))

# Tokens made by joining compounds are names, not words: never stemmed.
_STEM_KEEP |= {tok for _, joined in _COMPOUNDS for tok in joined.split()}


def _stem(word: str) -> str:
    """Light suffix stripping, the same for phrases and items: plurals, -ed, -ing, -ation, -e."""
    if len(word) <= 3 or word in _STEM_KEEP or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ations", "ation", "ating", "ated", "ates", "ate", "ings", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= (3 if "at" in suffix else 4):
            word = word[: -len(suffix)]
            if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "ls":  # stopp(ed) -> stop
                word = word[:-1]
            break
    if word.endswith("e") and len(word) > 4 and not word.endswith(("ee", "ie", "ue", "le")):
        word = word[:-1]
    return word


Tok = tuple[str, str, float]  # (normalised token, the source word(s) it came from, its weight in the item)


def _expand(words: list[Tok]) -> list[Tok]:
    out: list[Tok] = []
    for word, src, weight in words:
        out.extend((w, src, weight) for w in _SYNONYMS.get(_british(word), _british(word)).split())
    return out


def _compounds(words: list[Tok]) -> list[Tok]:
    out: list[Tok] = []
    i = 0
    while i < len(words):
        for parts, joined in _COMPOUNDS_BY_FIRST.get(words[i][0], ()):
            if tuple(w for w, _, _ in words[i : i + len(parts)]) == parts:
                src = " ".join(dict.fromkeys(s for _, s, _ in words[i : i + len(parts)]))
                weight = max(wt for _, _, wt in words[i : i + len(parts)])
                out.extend((j, src, weight) for j in joined.split())
                i += len(parts)
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _final(word: str) -> str:
    alias = _SYNONYMS.get(word)
    return alias if alias and " " not in alias else word


# Checklist items put their subject first and qualify it after a preposition or in parentheses:
# "CSRF protection enabled for state-changing operations", "Redis password set (if reachable from the
# network)".  Qualifying words count half when measuring how much of an item a phrase explains.
_QUALIFIERS = {"for", "on", "in", "with", "via", "using", "across", "at", "per", "during", "under", "against", "when", "if", "to",
               "into", "after", "before", "within", "from", "by", "than", "including", "except"}
QUALIFIER_WEIGHT = 0.5
_SETTING_PATHS = {"config", "settings", "conf", "cfg"}
_DOTTED = re.compile(r"\.(?!(?:py|rb|js|ts|json|ya?ml|toml|ini|conf|cfg|env|xml|php|properties)\b)[^\W\d]")  # not "settings.py"


#: A verb with "n't": "don't", "doesn't", "isn't", "can't", "won't".
_NEGATED = re.compile(r"^[^\W_]+n['’]t$", re.I)


def analyse(text: str) -> list[Tok]:
    """The normalised tokens of a text, in order, each with the word(s) as written it came from and its
    weight (1, or QUALIFIER_WEIGHT for a qualifying word)."""
    words: list[Tok] = []
    qualified = False
    text = re.sub(r"(?<=\d)\+", " plus", text)  # "TLS 1.2+", "Node 20+": "1.2 plus"
    for n, m in enumerate(re.finditer(r"[^\W_]+(?:['’][^\W_]+)?", text)):
        raw = m.group(0)
        if raw.lower() in _SETTING_PATHS and _DOTTED.match(text, m.end()):
            continue  # "config.force_ssl", "settings.DEBUG": where a setting lives, not "configured"
        before = text[: m.start()]
        in_parens = before.count("(") > before.count(")")
        if n > 0 and raw.lower() in _QUALIFIERS:
            qualified = True
        weight = QUALIFIER_WEIGHT if in_parens or qualified else 1.0
        if _NEGATED.match(raw):  # "don't", "isn't", "can't": the negation, not "don" and "t"
            words.append(("not", raw, weight))
            continue
        words.extend((w, raw, weight) for w in _WORD.findall(_fold(raw)))
    words = _compounds(words)  # before synonyms: "let s encrypt", "sign off"
    words = _expand(words)
    words = _compounds(words)  # after: "k8s network policy", "db connection pool"
    return [(_final(_stem(w)), src, weight) for w, src, weight in words]


def tokens(text: str) -> list[str]:
    """The normalised tokens of a text (in order; duplicates kept)."""
    return [t for t, _, _ in analyse(text)]


def norm_word(word: str) -> str:
    """One phrase word, normalised like item text (it must stay one token)."""
    toks = tokens(word.replace("_", " "))
    return " ".join(toks) if toks else word.lower()


_FILLER_NORM = {t for w in _FILLER for t in tokens(w)} | _FILLER
_INTENT_NORM = {intent: {t for w in words for t in tokens(w)} | words for intent, words in _INTENT_WORDS.items()}


_AND = re.compile(r"\s+(?:and|&)\s+", re.I)


def conjuncts(clause: str) -> list[str]:
    """The sides of "A and B" read on their own, a one-word side sharing the other's head noun:
    "SPF, DKIM and DMARC records" gives "DKIM records" and "DMARC records", "Uptime and
    performance monitoring" gives "Uptime monitoring"."""
    sides = [s for s in _AND.split(clause) if s.strip()]
    if len(sides) < 2 or re.search(r"\bbetween\b", sides[0], re.I):  # "between old and new DB" is one thing
        return []
    tail = sides[-1].split()[1:]
    return [" ".join([side, *tail]) if len(side.split()) == 1 and tail else side for side in sides]
