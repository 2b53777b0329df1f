"""HTTP hardening: every ``http`` target, seen from a browser's side.

Only read-only requests (GET, HEAD, OPTIONS, TRACE) through ``http_endpoint``, which verifies
TLS with the target's ``ca_bundle``: on a site whose certificate does not verify these checks
end as errors, and the tls checks carry the finding.  The one POST is the inventory's test login
(``HttpTarget.sign_in``), whose cookies http-09 inspects.
"""

from __future__ import annotations

import functools
import re
import secrets
import urllib.parse
from html.parser import HTMLParser
from typing import Any

import pytest
import requests

from pytest_deploycheck import Evidence, NotApplicable, TargetError, fail, not_applicable, read_ahead, require
from pytest_deploycheck.outcomes import note_transport
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.targets import http_transport
from pytest_deploycheck.targets.http import HttpTarget
from pytest_deploycheck.targets.reach import first_line

pytestmark = pytest.mark.section("http", "HTTP hardening")

OBSERVATORY = "Mozilla HTTP Observatory: "
REDIRECTS = (301, 302, 303, 307, 308)
SAFE_REFERRER_POLICIES = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
ALL_REFERRER_POLICIES = (*SAFE_REFERRER_POLICIES, "no-referrer-when-downgrade", "origin", "origin-when-cross-origin", "unsafe-url")
#: Response headers that exist only to name the software (and usually its version).
BANNER_HEADERS = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version")
VERSIONED_PRODUCT = re.compile(r"\b(nginx|apache|openresty|microsoft-iis|lighttpd|caddy|envoy|jetty|tomcat|"
                               r"gunicorn|uvicorn|werkzeug|express|php|openssl)/\d[\w.]*", re.IGNORECASE)
#: An Origin no site can have a reason to trust.
FOREIGN_ORIGIN = "https://cors-probe.example"
#: The Host a forged request names (RFC 2606: .invalid never resolves; nothing resolves it here anyway).
FORGED_HOST = "forged-host.deploycheck.invalid"

#: Files a web server must never hand out, with what each one's content starts like: a path that
#: answers 200 with a page of its own (a catch-all's index.html, a custom 404 with status 200) is
#: not the file.  Dumps and env files are matched by shape, never shown.
SQL_DUMP = re.compile(rb"-- MySQL dump|-- MariaDB dump|PostgreSQL database dump|^CREATE TABLE |^INSERT INTO ", re.MULTILINE)
EXPOSED_FILES: tuple[tuple[str, str, re.Pattern[bytes]], ...] = (
    ("/.git/HEAD", "a git HEAD", re.compile(rb"\A(ref: refs/|[0-9a-f]{40}\s*\Z)")),
    ("/.svn/wc.db", "a Subversion working copy", re.compile(rb"\ASQLite format 3\x00")),
    ("/.env", "environment variables", re.compile(rb"\A(\s*(#[^\n]*)?\n)*\s*(export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=")),
    ("/.aws/credentials", "cloud credentials", re.compile(rb"aws_access_key_id", re.IGNORECASE)),
    ("/.htpasswd", "password hashes", re.compile(rb"^[^:\s<]+:(\$apr1\$|\$2[aby]\$|\{SHA\}|\$[156]\$)", re.MULTILINE)),
    ("/.DS_Store", "a macOS folder index", re.compile(rb"\A\x00\x00\x00\x01Bud1")),
    ("/backup.sql", "a database dump", SQL_DUMP),
)
#: Folders often served as they are: an index generated for one lists every file in it.  ``/``
#: is the front page the page checks share (``HttpTarget.page``), not a request of its own.
LISTED_FOLDERS = ("/", "/uploads/", "/static/", "/files/")
FOLDER_INDEX = re.compile(rb"<(title|h1)>\s*(Index of /|Directory listing for /)", re.IGNORECASE)
#: How much of each answer the check keeps: every signature is in a file's first bytes.
EXPOSURE_HEAD_BYTES = 4096


# --------------------------------------------------------------------------- helpers


def _https(http_endpoint: HttpTarget) -> bool:
    return http_endpoint.url.startswith("https://")


def _front_page(http_endpoint: HttpTarget) -> requests.Response:
    """``GET /`` as the page checks share it (``page``): read ahead for every target at once."""
    return http_endpoint.page("/")


def _require_https(http_endpoint: HttpTarget, what: str) -> None:
    if not _https(http_endpoint):
        fail(http_endpoint, f"served over plain HTTP ({http_endpoint.url}): {what} needs HTTPS", f"an https:// URL with {what}")


def _directives(policy: str) -> dict[str, list[str]]:
    """One serialized CSP policy as {directive: [sources]}; the first occurrence of a directive wins."""
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        tokens = part.split()
        if tokens and tokens[0].lower() not in out:
            out[tokens[0].lower()] = [t.lower() for t in tokens[1:]]
    return out


def _policies(response: requests.Response) -> list[dict[str, list[str]]]:
    # Several CSP headers (joined with ", " by requests) or a comma in one: each policy is enforced.
    header = response.headers.get("Content-Security-Policy", "")
    return [_directives(p) for p in header.split(",") if p.strip()]


def _script_problems(policy: dict[str, list[str]]) -> set[str]:
    """What this policy lets scripts do: unsafe-inline, unsafe-eval, any-source (all three when unrestricted)."""
    sources = policy.get("script-src", policy.get("default-src"))
    if sources is None:
        return {"unsafe-inline", "unsafe-eval", "any-source"}
    problems = set()
    # With a nonce, a hash or 'strict-dynamic', browsers ignore 'unsafe-inline' (it is a fallback
    # for old browsers); 'strict-dynamic' also makes them ignore host and scheme sources.
    keyed = any(s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) for s in sources) or "'strict-dynamic'" in sources
    if "'unsafe-inline'" in sources and not keyed:
        problems.add("unsafe-inline")
    if "'unsafe-eval'" in sources:
        problems.add("unsafe-eval")
    if "'strict-dynamic'" not in sources and any(s in ("*", "http:", "https:", "data:") for s in sources):
        problems.add("any-source")
    return problems


def _set_cookies(response: requests.Response) -> list[str]:
    raw = getattr(response, "raw", None)
    headers = getattr(raw, "headers", None)
    if headers is not None and hasattr(headers, "getlist"):
        return list(headers.getlist("Set-Cookie"))
    value = response.headers.get("Set-Cookie")
    return [value] if value else []


def _cookie(line: str) -> tuple[str, str, dict[str, str]]:
    """``name=value; Secure; SameSite=Lax`` -> (name, value, {"secure": "", "samesite": "lax"})."""
    first, *attributes = line.split(";")
    name, _, value = first.partition("=")
    attrs = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        attrs[key.strip().lower()] = val.strip().lower()
    return name.strip(), value.strip(), attrs


def _connection_failure(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout:g}s"
    return "connection refused" if "refused" in str(exc).lower() else first_line(exc)


def _refusal(response: requests.Response) -> str:
    return f"{response.status_code}" + (f" -> {response.headers['Location']}" if response.headers.get("Location") else "")


# --------------------------------------------------------------------------- transport


def _plain_answer(http_endpoint: HttpTarget) -> requests.Response | requests.RequestException:
    """``GET /`` on the plain-HTTP URL (another port than the target's), once per run (so read
    ahead): the answer, or the connection failure that is itself the evidence (kept, without its
    traceback: no listener there is not the target being down)."""

    def read() -> requests.Response | requests.RequestException:
        try:
            return http_endpoint.fetch_elsewhere(http_endpoint.http_url + "/")  # type: ignore[no-any-return]
        except (requests.ConnectTimeout, requests.ConnectionError, requests.Timeout) as exc:
            exc.__traceback__ = None
            exc.__context__ = None
            return exc

    answer: requests.Response | requests.RequestException = http_endpoint.remember(("plain-http",), read)
    if getattr(answer, "deploycheck_truncated", False):  # the note its own request would have left (once)
        note_transport(http_transport.truncation_note(answer, http_endpoint.body_limit))
    return answer


@pytest.mark.check("http-01", "Plain HTTP redirects to HTTPS", severity="high",
                   refs=(OBSERVATORY + "redirection", "CIS NGINX Benchmark 4.1.1"),
                   answers=("https_redirect", "force_ssl|force_https|force_tls", "http redirect|redirects https?", "tls|https redirect|redirects", "https enforc|only|everywhere|forc|mandatory|required",
                            "traffic|data|connection|connections? encrypt|encrypted|encryption transit|wire|flight"),
                   answers_unless=("database", "postgres", "mysql", "redis", "backup|backups"))
@read_ahead(lambda http_endpoint: http_endpoint.http_url == http_endpoint.url or _plain_answer(http_endpoint))
def test_https_redirect(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """Whatever arrives over plain HTTP can be read and changed on the way; a user typing the
    bare host name must land on HTTPS at once, on the same host (so HSTS is set for it).  The
    plain URL is ``http_url`` (default: the URL with http:// on port 80).  Passes on a 301, 302,
    303, 307 or 308 to an https:// URL on the same host, or when nothing serves plain HTTP at all
    (connection refused, or no answer to the connection attempt); fails when content is served
    over plain HTTP.  Something that accepts the connection and then answers no HTTP (garbage, a
    reset, silence) proves neither: an error.
    """
    plain = http_endpoint.http_url
    evidence.record(http_url=plain)
    if plain == http_endpoint.url:
        response = http_endpoint.get("/")  # the target itself is plain HTTP
    else:
        answer = _plain_answer(http_endpoint)
        if isinstance(answer, requests.RequestException):
            # Another port than the target's: no listener there is not the target being down.  Only
            # a refused or unanswered connection is evidence that nothing serves plain HTTP.
            exc = answer
            failure = _connection_failure(exc, http_endpoint.timeout)
            if not (isinstance(exc, requests.ConnectTimeout) or failure == "connection refused"):
                raise TargetError(f"{http_endpoint.label}: {plain}/ accepts connections but gives no HTTP answer ({failure}); "
                                  "cannot tell whether it redirects to HTTPS") from None
            evidence.record(plain_http=f"not served ({failure})")
            return
        response = answer
    location = response.headers.get("Location", "")
    evidence.record(status=response.status_code, location=location)
    observed = f"{plain}/ answers {_refusal(response)}"
    require(response.status_code in REDIRECTS and location.lower().startswith("https://"), http_endpoint,
            f"{observed} over plain HTTP", "a redirect to https://")
    same_host = urllib.parse.urlsplit(location).hostname == urllib.parse.urlsplit(plain).hostname
    require(same_host, http_endpoint, f"{observed}: another host first, so HSTS is never set for this one",
            "a redirect to https:// on the same host")


@pytest.mark.check("http-02", "HSTS with a long max-age", severity="medium",
                   refs=(OBSERVATORY + "strict-transport-security", "dev-sec nginx-baseline: nginx-13", "CIS NGINX Benchmark 4.1.8"),
                   answers=("hsts max? age?", "http|web? security_headers helmet?", "helmet", "helmet middleware|package? enabl|configur|used|install|installed|added|on"))
@read_ahead(lambda http_endpoint: _https(http_endpoint) and _front_page(http_endpoint))
def test_hsts(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """Strict-Transport-Security makes a browser that has seen the site once refuse plain HTTP
    for max-age seconds, closing the SSL-stripping window that a redirect leaves open.  Passes
    when the HTTPS response carries it with max-age of at least ``hsts_min_age`` (default 6
    months, 15552000 s).
    """
    minimum = http_endpoint.threshold("hsts_min_age")
    _require_https(http_endpoint, "Strict-Transport-Security")
    header = http_endpoint.page("/").headers.get("Strict-Transport-Security")
    evidence.record(strict_transport_security=header, hsts_min_age=minimum)
    require(header, http_endpoint, "no Strict-Transport-Security header", f"Strict-Transport-Security with max-age >= {minimum}")
    match = re.search(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", str(header), re.IGNORECASE)
    max_age = int(match.group(1)) if match else None
    evidence.record(max_age=max_age)
    require(max_age is not None and max_age >= minimum, http_endpoint, f"Strict-Transport-Security: {header}",
            f"max-age >= {minimum} seconds (hsts_min_age)")


# --------------------------------------------------------------------------- response headers


@pytest.mark.check("http-03", "Content-Security-Policy restricts scripts", severity="medium",
                   refs=(OBSERVATORY + "content-security-policy", "dev-sec nginx-baseline: nginx-15", "CIS NGINX Benchmark 5.3"),
                   answers=("xss protection|protect|defense|prevention|filter|filtering", "csp no|without|not unsafe|unsafe_eval|unsafe_inline|eval|inline", "csp script? restrict?", "http|web? security_headers helmet?", "helmet", "helmet middleware|package? enabl|configur|used|install|installed|added|on", "xss header"))
@read_ahead(_front_page)
def test_csp(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A Content-Security-Policy is the browser's last line against injected script (XSS).  It
    only helps if it restricts scripts: ``script-src`` (or ``default-src``) without
    ``'unsafe-inline'`` (unless a nonce, hash or ``'strict-dynamic'`` overrides it), without
    ``'unsafe-eval'`` and without sources that allow any script (``*``, ``https:``, ``data:``).
    With several policies a script must pass all of them.  Report-Only policies do not count.
    """
    response = http_endpoint.page("/")
    header = response.headers.get("Content-Security-Policy")
    evidence.record(content_security_policy=header,
                    report_only=response.headers.get("Content-Security-Policy-Report-Only"))
    require(header, http_endpoint, "no Content-Security-Policy header"
            + (" (only Content-Security-Policy-Report-Only, which enforces nothing)"
               if response.headers.get("Content-Security-Policy-Report-Only") else ""),
            "a Content-Security-Policy that restricts script sources")
    problems = set.intersection(*(_script_problems(p) for p in _policies(response)))
    text = {"unsafe-inline": "'unsafe-inline'", "unsafe-eval": "'unsafe-eval'", "any-source": "scripts from any source"}
    evidence.record(script_problems=sorted(problems))
    require(not problems, http_endpoint, f"Content-Security-Policy allows {', '.join(text[p] for p in sorted(problems))}: {header}",
            "script-src (or default-src) without 'unsafe-inline', 'unsafe-eval' or wildcard sources")


@pytest.mark.check("http-04", "X-Content-Type-Options: nosniff", severity="low",
                   refs=(OBSERVATORY + "x-content-type-options", "dev-sec nginx-baseline: nginx-10", "CIS NGINX Benchmark 5.3"),
                   answers=("nosniff", "content type sniff", "http|web? security_headers helmet?", "helmet", "helmet middleware|package? enabl|configur|used|install|installed|added|on",
                            "secure? content type nosniff|options true|enabled|set?"))
@read_ahead(_front_page)
def test_nosniff(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """Without ``nosniff`` a browser may guess a response's type and run an uploaded text file
    as script or style.  Passes when ``X-Content-Type-Options`` is ``nosniff``.
    """
    header = http_endpoint.page("/").headers.get("X-Content-Type-Options")
    evidence.record(x_content_type_options=header)
    require(str(header).strip().lower() == "nosniff", http_endpoint,
            f"X-Content-Type-Options: {header}" if header else "no X-Content-Type-Options header", "X-Content-Type-Options: nosniff")


@pytest.mark.check("http-05", "Framing denied", severity="medium",
                   refs=(OBSERVATORY + "x-frame-options", "dev-sec nginx-baseline: nginx-08", "CIS NGINX Benchmark 5.3"),
                   answers=("clickjack protection|protect|defense|prevent|header|headers?", "xfo deny|sameorigin?", "clickjack", "frame ancestor|deny|option|embed", "http|web? security_headers helmet?",
                            "helmet", "helmet middleware|package? enabl|configur|used|install|installed|added|on"))
@read_ahead(_front_page)
def test_framing_denied(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A page other sites can frame can be overlaid and clicked through (clickjacking).  Passes
    when ``X-Frame-Options`` is DENY or SAMEORIGIN, or the Content-Security-Policy has a
    ``frame-ancestors`` directive that does not allow any origin.
    """
    response = http_endpoint.page("/")
    xfo = response.headers.get("X-Frame-Options")
    ancestors = [p["frame-ancestors"] for p in _policies(response) if "frame-ancestors" in p]
    evidence.record(x_frame_options=xfo, frame_ancestors=[" ".join(a) for a in ancestors])
    by_xfo = str(xfo).strip().upper() in ("DENY", "SAMEORIGIN")
    by_csp = any(not {"*", "http:", "https:"} & set(sources) for sources in ancestors)
    observed = f"X-Frame-Options: {xfo}" if xfo else "no X-Frame-Options"
    observed += f", frame-ancestors {' / '.join(' '.join(a) for a in ancestors)}" if ancestors else ", no CSP frame-ancestors"
    require(by_xfo or by_csp, http_endpoint, observed, "X-Frame-Options DENY/SAMEORIGIN or CSP frame-ancestors 'none'/'self'")


@pytest.mark.check("http-06", "Referrer-Policy is safe", severity="low",
                   refs=(OBSERVATORY + "referrer-policy", "CIS NGINX Benchmark 5.3"),
                   answers=("referrer_policy|referrer", "http|web? security_headers helmet?", "helmet", "helmet middleware|package? enabl|configur|used|install|installed|added|on"))
@read_ahead(_front_page)
def test_referrer_policy(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """URLs carry tokens, ids and search terms; the Referer header hands them to every third
    party a page loads from or links to.  Passes when ``Referrer-Policy`` is no-referrer,
    same-origin, strict-origin or strict-origin-when-cross-origin (of a list, the last value the
    browser knows is the one it applies).
    """
    header = http_endpoint.page("/").headers.get("Referrer-Policy")
    known = [v.strip().lower() for v in str(header or "").split(",") if v.strip().lower() in ALL_REFERRER_POLICIES]
    effective = known[-1] if known else None
    evidence.record(referrer_policy=header, effective=effective)
    require(effective in SAFE_REFERRER_POLICIES, http_endpoint,
            f"Referrer-Policy: {header}" if header else "no Referrer-Policy header",
            f"Referrer-Policy: one of {', '.join(SAFE_REFERRER_POLICIES)}")


#: The pages http-07 reads: the home page and the server's error page (a path no site has).
BANNER_PAGES = (("GET /", "/"), ("error page", f"/deploycheck-{secrets.token_hex(4)}-not-found"))


@pytest.mark.check("http-07", "No version banner", severity="low",
                   refs=("dev-sec nginx-baseline: nginx-05", "CIS NGINX Benchmark 2.5.1", "CIS NGINX Benchmark 2.5.4"),
                   answers=("webserver hide|hidden|remove|disabl version|versions", "expose_php off|disabl|no|hidden|false", "version_banner|powered_by|server_tokens", "webserver|php|apache? version_banner|powered_by|server_tokens|expose_php off|disabl|hidden|remov|no", "hide|no|remove server|software version header? nginx? apache?",
                            "version_banner hide|no|remov|disabl|conceal version? webserver?",
                            "banner hide|disabl|no|remov"))
@read_ahead(lambda http_endpoint: [http_endpoint.page(path) for _, path in BANNER_PAGES])
def test_no_version_banner(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A version in ``Server`` (``nginx/1.22.1``), an ``X-Powered-By`` header or a versioned
    product on an error page tells an attacker which published vulnerabilities to try first.
    The home page and a page that does not exist (the server's error page) are read; passes
    when neither names a software version nor carries X-Powered-By / X-AspNet-Version headers.
    """
    found = []
    seen: dict[str, Any] = {}
    for label, path in BANNER_PAGES:
        response = http_endpoint.page(path)
        server = response.headers.get("Server")
        seen[label] = {"status": response.status_code, "Server": server,
                       **{h: response.headers[h] for h in BANNER_HEADERS if h in response.headers}}
        if server and re.search(r"\d", server):
            found.append(f"Server: {server}")
        found += [f"{h}: {response.headers[h]}" for h in BANNER_HEADERS if h in response.headers]
        body = VERSIONED_PRODUCT.search(response.text[:65536]) if "html" in response.headers.get("Content-Type", "") else None
        if body:
            found.append(f"{body.group(0)} on the {label}")
    found = list(dict.fromkeys(found))
    evidence.record(responses=seen, banners=found)
    require(not found, http_endpoint, f"reveals {'; '.join(found)}", "no software version (server_tokens off, X-Powered-By removed)")


# --------------------------------------------------------------------------- cross-origin, cookies, methods


#: The requests of http-08: without an Origin, with a foreign one, with ``null``, and a preflight.
CORS_PROBES: tuple[tuple[str, str | None], ...] = (("GET", None), ("GET", FOREIGN_ORIGIN), ("GET", "null"), ("OPTIONS", FOREIGN_ORIGIN))


def _cors_answers(http_endpoint: HttpTarget) -> list[requests.Response]:
    """The answers to ``CORS_PROBES`` on ``/``, each read once per run (so read ahead)."""
    def send(method: str, origin: str | None) -> requests.Response:
        headers = {"Origin": origin} if origin else {}
        if method == "OPTIONS":
            headers["Access-Control-Request-Method"] = "GET"
        response: requests.Response = http_endpoint.request(method, "/", headers=headers)
        return response

    return [http_endpoint.shared(("cors", method, origin), functools.partial(send, method, origin))[0] for method, origin in CORS_PROBES]


@pytest.mark.check("http-08", "CORS does not trust arbitrary origins", severity="high",
                   refs=(OBSERVATORY + "cross-origin-resource-sharing", "OWASP WSTG-CLNT-07"),
                   answers=("cors origin|wildcard|restrict|limit|allow|domain|trusted|polic|configur|header? wildcard? domain? limit?",
                            "origin reflect|reflection"))
@read_ahead(_cors_answers)
def test_cors(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A site that reflects any ``Origin`` into ``Access-Control-Allow-Origin`` (worse: with
    ``Access-Control-Allow-Credentials: true``) lets every web page a user visits read its API
    with the user's session.  Requests without an Origin, with a foreign one, with ``null`` and
    a preflight are sent; fails on a reflected foreign or null origin, on ``*`` with credentials,
    and, when the inventory lists ``cors_allowed_origins``, on any allowed origin outside it.
    ``*`` without credentials (public content) passes unless the list is given.
    """
    allowed = {str(o) for o in (http_endpoint.setting("cors_allowed_origins") or ())}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for (method, origin), response in zip(CORS_PROBES, _cors_answers(http_endpoint), strict=True):
        label = ("preflight with " if method == "OPTIONS" else "") + (f"Origin {origin}" if origin else "no Origin")
        acao = response.headers.get("Access-Control-Allow-Origin")
        credentials = response.headers.get("Access-Control-Allow-Credentials", "").strip().lower() == "true"
        seen[label] = f"{acao or '-'}{' with credentials' if credentials else ''}"
        with_credentials = " with Access-Control-Allow-Credentials: true" if credentials else ""
        if acao == "*" and credentials:
            problems.append("Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true")
        elif origin and acao == origin and origin not in allowed:
            problems.append(f"{label} reflected{with_credentials}")
        elif acao and allowed and acao not in allowed:
            problems.append(f"{label}: Access-Control-Allow-Origin: {acao}, not in cors_allowed_origins")
    problems = list(dict.fromkeys(problems))
    evidence.record(access_control_allow_origin=seen, cors_allowed_origins=sorted(allowed))
    require(not problems, http_endpoint, "; ".join(problems),
            "no reflected or wildcard-with-credentials origin" + (f", only {', '.join(sorted(allowed))}" if allowed else ""))


@pytest.mark.check("http-09", "Cookies are Secure, HttpOnly and SameSite", severity="medium",
                   refs=(OBSERVATORY + "cookies", "dev-sec nginx-baseline: nginx-16", "OWASP WSTG-SESS-02"),
                   answers=("cookie secure|httponly|samesite|flag|attribute httponly? samesite?", "session cookie",
                            "csrf|session|csrftoken cookie secure|httponly|samesite"))
@read_ahead(_front_page, lambda http_endpoint: http_endpoint.sign_in())  # no login in the inventory: nothing read
def test_cookie_flags(http_endpoint: HttpTarget, evidence: Evidence, redactor: Redactor) -> None:
    """A session cookie without Secure leaks over plain HTTP, without HttpOnly it is readable by
    injected script, without SameSite it rides along on cross-site requests (CSRF).  Cookies set
    by the home page and by the inventory's test login are read; every one must carry Secure,
    HttpOnly (anti-CSRF cookies named ``*csrf*``/``*xsrf*`` are exempt: scripts must read them)
    and SameSite=Lax or Strict.  Not applicable when no cookie is set.
    """
    responses = [("GET /", http_endpoint.page("/"))]
    try:
        responses.append(("login", http_endpoint.sign_in()))
    except NotApplicable:
        pass  # no test login in the inventory: the home page's cookies only
    cookies: dict[str, str] = {}
    problems: list[str] = []
    for label, response in responses:
        for line in _set_cookies(response):
            name, value, attrs = _cookie(line)
            if len(value) >= 16:
                redactor.add(value)  # a session id or token: never in a report
            missing = [flag for flag in ("secure", "httponly") if flag not in attrs]
            if "httponly" in missing and re.search(r"csrf|xsrf", name, re.IGNORECASE):
                missing.remove("httponly")
            samesite = attrs.get("samesite")
            flags = [f for f in ("Secure", "HttpOnly") if f.lower() in attrs] + ([f"SameSite={samesite.title()}"] if samesite else [])
            cookies[f"{name} ({label})"] = "; ".join(flags) or "no flags"
            issues = [{"secure": "no Secure", "httponly": "no HttpOnly"}[m] for m in missing]
            if samesite not in ("lax", "strict"):
                issues.append(f"SameSite={samesite.title()}" if samesite else "no SameSite")
            if issues:
                problems.append(f"cookie {name} ({label}): {', '.join(issues)}")
    evidence.record(cookies=cookies)
    if not cookies:
        not_applicable(f"{http_endpoint.name}: no cookie set by {' or '.join(label for label, _ in responses)}")
    require(not problems, http_endpoint, "; ".join(problems), "every cookie with Secure, HttpOnly and SameSite=Lax or Strict")


#: The marker header value http-10 looks for in a TRACE answer (one per run).
TRACE_MARKER = f"deploycheck-{secrets.token_hex(4)}"


def _trace_answer(http_endpoint: HttpTarget) -> requests.Response:
    """``TRACE /`` with the marker header, sent once per run (so read ahead)."""
    response: requests.Response = http_endpoint.shared(
        ("trace",), lambda: http_endpoint.request("TRACE", "/", headers={"X-Deploycheck-Trace": TRACE_MARKER}))[0]
    return response


@pytest.mark.check("http-10", "TRACE refused", severity="medium",
                   refs=("OWASP WSTG-CONF-06", "dev-sec nginx-baseline: nginx-14", "CIS NGINX Benchmark 5.1.2"),
                   answers=("trace_method", "trace disabl|refus|block|off"))
@read_ahead(lambda http_endpoint: _trace_answer(http_endpoint))
def test_trace_refused(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """TRACE echoes the request, cookies and Authorization included, back to the caller (cross-site
    tracing) and serves no purpose in production.  One ``TRACE /`` with a marker header is sent;
    passes on any answer other than 2xx (405 or 501 expected).
    """
    response = _trace_answer(http_endpoint)
    echoed = TRACE_MARKER in response.text
    evidence.record(status=response.status_code, echoed=echoed)
    require(not 200 <= response.status_code < 300, http_endpoint,
            f"TRACE / answers {response.status_code}" + (" and echoes the request headers" if echoed else ""),
            "405 or 501 (TRACE disabled)")


#: The two requests of http-11: the forged name as the Host, and as X-Forwarded-Host.
FORGED_REQUESTS = (("Host", {"Host": FORGED_HOST}), ("X-Forwarded-Host", {"X-Forwarded-Host": FORGED_HOST}))


def _forged_pages(http_endpoint: HttpTarget) -> list[requests.Response]:
    return [http_endpoint.page("/", headers=headers) for _, headers in FORGED_REQUESTS]


@pytest.mark.check("http-11", "Forged Host header not echoed", severity="medium",
                   refs=("OWASP WSTG-INPV-17: Testing for Host Header Injection", "PortSwigger: HTTP Host header attacks",
                         "Django: ALLOWED_HOSTS"),
                   answers=("host header injection|poisoning|attack|validation|validate|forged|spoof|spoofing|check",
                            "allowed_hosts|trusted_hosts restrict|restricted|set|limit|configur?", "allowed host|hosts restrict|restricted|limit"))
@read_ahead(_forged_pages)
def test_forged_host_not_echoed(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """An application that builds absolute URLs (password-reset links, redirects, canonical
    links) from the request's ``Host`` header, or from ``X-Forwarded-Host``, lets a client pick
    the host those URLs point to: a reset mail with an attacker's link, a shared cache poisoned
    for everyone.  Two ``GET /`` are sent, one with ``Host`` set to ``FORGED_HOST``, an
    ``.invalid`` name (the connection and the TLS name stay the target's; nothing resolves it),
    one with the target's own Host and that name in ``X-Forwarded-Host``.  Passes when neither answer carries
    the name: refused (400, 421) or answered without it.  Fails naming the header and where the
    name came back (a response header or the body)."""
    forged = FORGED_HOST
    seen: dict[str, Any] = {}
    problems = []
    for (via, _), response in zip(FORGED_REQUESTS, _forged_pages(http_endpoint), strict=True):
        where = [f"{name} header" for name, value in response.headers.items() if forged in value]
        if forged in response.text:
            where.append("body")
        seen[via] = {"status": response.status_code, "echoed_in": where}
        if where:
            problems.append(f"a forged {via} ({forged}) came back in the {' and the '.join(where)} of / ({response.status_code})")
    evidence.record(forged_host=forged, answers=seen)
    require(not problems, http_endpoint, "; ".join(problems), "a forged Host or X-Forwarded-Host refused (400/421) or never echoed")


@pytest.mark.check("http-12", "HTTP/2 offered", severity="info",
                   refs=("RFC 9113: HTTP/2", "RFC 7301: TLS Application-Layer Protocol Negotiation", "web.dev: Introduction to HTTP/2"),
                   answers=("http2 enabl|support|offered|on|configur|server?", "http2"))
@read_ahead(lambda http_endpoint: _https(http_endpoint) and http_endpoint.alpn())
def test_http2(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """HTTP/2 carries a page's many requests over one connection with compressed headers: fewer
    round trips on every slow link.  Information, never blocking: passes when the server picks
    ``h2`` in a TLS handshake offering ``h2`` and ``http/1.1`` (ALPN), as a browser's would.
    Not applicable to a plain-HTTP URL (browsers speak HTTP/2 only over TLS)."""
    if not _https(http_endpoint):
        not_applicable(f"{http_endpoint.name}: {http_endpoint.url} is plain HTTP; browsers use HTTP/2 only over TLS")
    chosen = http_endpoint.alpn()
    evidence.record(offered=["h2", "http/1.1"], selected=chosen)
    require(chosen == "h2", http_endpoint, f"the TLS handshake chose {chosen or 'no protocol (the server ignores ALPN)'}",
            "h2 (HTTP/2) when a client offers it")


def _exposure_answers(http_endpoint: HttpTarget) -> list[tuple[str, int, bytes]]:
    """``GET`` each of ``EXPOSED_FILES`` and ``LISTED_FOLDERS`` once per run, redirects not followed:
    (path, status, the first ``EXPOSURE_HEAD_BYTES`` of the body)."""
    def read() -> list[tuple[str, int, bytes]]:
        out = []
        for path in [path for path, _, _ in EXPOSED_FILES] + list(LISTED_FOLDERS):
            response = http_endpoint.page(path) if path == "/" else http_endpoint.get(path)
            out.append((path, response.status_code, response.content[:EXPOSURE_HEAD_BYTES]))
        return out
    return http_endpoint.shared(("exposure",), read)[0]


@pytest.mark.check("http-13", "No repository, secret or dump file served, no folder listed", severity="high",
                   refs=("OWASP WSTG-CONF-04: Review Old Backup and Unreferenced Files for Sensitive Information",
                         "CWE-538: Insertion of Sensitive Information into Externally-Accessible File or Directory",
                         "CWE-548: Exposure of Information Through Directory Listing", "nginx: autoindex"),
                   answers=("git|svn|hg|vcs|source_control|repository directory|folder|files|metadata? not? exposed|accessible|served|public|"
                            "reachable|block|denied|deploy|web",
                            "directory|folder listing|list|index|browsing disabl|off|not|prevent|turned?", "directory_listing|autoindex",
                            "envfile|env|dotenv file? not? publicly|public|accessible|served|exposed|reachable|block",
                            "backup|dump|sql file|files web|webroot|public|served|accessible|exposed|reachable",
                            "sensitive|hidden|dotfile file|files not? exposed|accessible|served|public|block",
                            "hidden|dotfile file? block|denied|protect webserver?"),
                   answers_unless=("offsite", "off site", "encrypt", "s3", "bucket", "restore"))
@read_ahead(_exposure_answers)
def test_no_exposed_files(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A web root that is the project checkout hands out its ``.git`` (the whole source and its
    history, secrets included), its ``.env``, the dump someone left beside it; an automatic folder
    index lists every upload.  GETs a fixed list of such paths (``EXPOSED_FILES``) and folders
    (``LISTED_FOLDERS``), without following redirects, and judges what comes back by its content,
    never by the status alone: a catch-all page answering 200 everywhere is not a leak.  Passes
    when no path serves the file it names and no folder answers with a generated index.  What a
    file holds is never shown, only what kind of file it is."""
    served, listed, statuses = [], [], {}
    for path, status, head in _exposure_answers(http_endpoint):
        statuses[path] = status
        if status != 200:
            continue
        kind = next((what for file, what, shape in EXPOSED_FILES if file == path and shape.search(head)), None)
        if kind:
            served.append(f"{path} ({kind})")
        elif path in LISTED_FOLDERS and FOLDER_INDEX.search(head):
            listed.append(path)
    evidence.record(probed=statuses, served=served, listed=listed)
    problems = ([f"serves {', '.join(served)}"] if served else []) + \
        ([f"lists the folder{'s' if len(listed) > 1 else ''} {', '.join(listed)}"] if listed else [])
    require(not problems, http_endpoint, "; ".join(problems),
            "no repository, secret or dump file served and no generated folder index")


#: Elements and attributes that load a subresource (or submit to one) when the page renders.
SUBRESOURCE_ATTRS = {
    "script": ("src",), "img": ("src", "srcset"), "source": ("src", "srcset"), "iframe": ("src",), "frame": ("src",),
    "audio": ("src",), "video": ("src", "poster"), "track": ("src",), "embed": ("src",), "object": ("data",),
    "input": ("src",), "form": ("action",), "base": ("href",),
}
#: ``<link rel=...>`` values that make the browser fetch the target (not canonical, alternate, ...).
FETCHING_LINKS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "manifest", "apple-touch-icon", "prefetch"})
#: The most insecure references kept in the evidence.
MAX_MIXED = 20


class _Subresources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (element and attribute, URL as written)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        names = SUBRESOURCE_ATTRS.get(tag, ())
        if tag == "link" and FETCHING_LINKS & set(values.get("rel", "").lower().split()):
            names = ("href",)
        for name in names:
            if name not in values:
                continue
            urls = [part.strip().split()[0] for part in values[name].split(",") if part.strip()] if name == "srcset" else [values[name].strip()]
            self.found += [(f"<{tag} {name}>", url) for url in urls]


def insecure_subresources(html: str, page_url: str) -> list[str]:
    """The subresources (scripts, styles, frames, images, media, form targets) an HTML page loads
    over plain ``http://``, each as ``<tag attr> http://host/path`` (login and query left out: a
    URL may carry a key).  A ``<base href="http://...">`` makes every relative reference insecure."""
    parser = _Subresources()
    parser.feed(html)
    parser.close()
    base = next((urllib.parse.urljoin(page_url, url) for where, url in parser.found if where == "<base href>"), page_url)
    out = []
    for where, url in parser.found:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(page_url if where == "<base href>" else base, url))
        if parts.scheme.lower() == "http":
            out.append(f"{where} http://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}")
    return out


@pytest.mark.check("http-14", "No mixed content on the front page", severity="medium",
                   refs=("W3C Mixed Content", "MDN: Mixed content", "OWASP WSTG-CRYP-03"),
                   answers=("mixed content", "mixed_content warning|warnings|error|errors|free|none|issue|issues",
                            "http|insecure|unencrypted resource|resources|asset|assets|script|scripts|image|images|content https? page|pages|site?",
                            "asset|assets|resource|resources|script|scripts|image|images over|via|from|use|served https|tls|secure only?"))
@read_ahead(_front_page)
def test_no_mixed_content(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """An HTTPS page that loads a script, a style sheet or a frame over plain HTTP hands whoever
    is on the network path the page itself: browsers block such active content (the page then
    breaks) and show the padlock as broken for images and media.  Reads the front page and
    passes when every subresource it loads (``<script src>``, ``<link rel=stylesheet|icon|preload>``,
    ``<img src/srcset>``, media, frames, ``<form action>``, ``<base href>``) is ``https://``,
    protocol-relative or relative, or the Content-Security-Policy says ``upgrade-insecure-requests``.
    Only the front page is read; the site's other pages are not crawled."""
    if not _https(http_endpoint):
        not_applicable(f"{http_endpoint.name}: served over plain HTTP ({http_endpoint.url}); http-01 judges that, not mixed content")
    response = http_endpoint.page("/")
    content_type = str(response.headers.get("content-type", "")).lower()
    if response.status_code != 200 or "html" not in content_type:
        not_applicable(f"{http_endpoint.name}: the front page answers {response.status_code} {content_type.split(';')[0] or 'without a type'}, "
                       "not an HTML page that loads subresources")
    insecure = insecure_subresources(response.text, response.url or http_endpoint.url)
    upgraded = any("upgrade-insecure-requests" in policy for policy in _policies(response))
    evidence.record(insecure=insecure[:MAX_MIXED], upgrade_insecure_requests=upgraded)
    shown = "; ".join(insecure[:5]) + (f" (and {len(insecure) - 5} more)" if len(insecure) > 5 else "")
    require(not insecure or upgraded, http_endpoint,
            f"{len(insecure)} subresource{'s' if len(insecure) != 1 else ''} over plain HTTP on an HTTPS page: {shown}",
            "every script, style sheet, frame, image and form target over https:// (or relative), "
            "or a CSP with upgrade-insecure-requests")
