"""Public site: every ``http`` target whose front page is a web page, as search engines meet it.

Reads the front page (``GET`` of the target's URL, shared with the HTTP checks),
``/robots.txt`` at the site's root and the sitemap it names (else ``/sitemap.xml``), with the
target's timeout and body cap.  Nothing else is sent.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

import pytest
import requests

from pytest_deploycheck import Evidence, not_applicable, require
from pytest_deploycheck.targets.http import HttpTarget

pytestmark = pytest.mark.section("site", "Public site")

#: ``<meta name="robots" content="noindex, nofollow">`` (or ``googlebot``), attributes in any order.
_META = re.compile(r"<meta\b[^>]*>", re.I)
_ATTR = re.compile(r"""\b(name|content)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _web_page(http_endpoint: HttpTarget) -> requests.Response:
    """The front page (shared with the HTTP checks); n/a when it is no web page answered 200."""
    page = http_endpoint.page("/")
    content_type = str(page.headers.get("content-type", "")).lower()
    if page.status_code != 200 or "html" not in content_type:
        not_applicable(f"{http_endpoint.name}: the front page answers {page.status_code} {content_type.split(';')[0] or 'without a type'}, "
                       "not a web page search engines would index")
    return page


def _root(http_endpoint: HttpTarget) -> str:
    """``https://shop.example.com``: the site's root, where robots.txt and the sitemap live."""
    parts = urllib.parse.urlsplit(http_endpoint.url)
    return f"{parts.scheme}://{parts.netloc}"


def _robots(http_endpoint: HttpTarget) -> requests.Response:
    """``/robots.txt`` at the site's root, read once for both checks of this module."""
    return http_endpoint.page(f"{_root(http_endpoint)}/robots.txt")


def robots_blocks_everything(text: str) -> str | None:
    """The rule of a robots.txt (RFC 9309) that keeps every crawler off the whole site
    (``Disallow: /`` in the group for ``*``, not undone by an ``Allow: /``), or None."""
    groups: list[tuple[set[str], list[tuple[str, str]]]] = []
    agents: set[str] = set()
    rules: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if rules:  # a new group starts
                groups.append((agents, rules))
                agents, rules = set(), []
            agents.add(value.lower())
        elif key in ("allow", "disallow") and agents:
            rules.append((key, value))
    if agents:
        groups.append((agents, rules))
    for group_agents, group_rules in groups:
        if "*" not in group_agents:
            continue
        blocked = any(key == "disallow" and value in ("/", "/*") for key, value in group_rules)
        undone = any(key == "allow" and value in ("/", "/*", "/$") for key, value in group_rules)
        if blocked and not undone:
            return "User-agent: * / Disallow: /"
    return None


def noindex_marks(headers: dict[str, str], html: str) -> list[str]:
    """Where a page tells search engines not to index it: ``X-Robots-Tag`` and ``<meta name=robots>``."""
    found = []
    tag = headers.get("x-robots-tag", "")
    if re.search(r"\b(noindex|none)\b", tag, re.I):
        found.append(f"X-Robots-Tag: {tag.strip()[:80]}")
    for meta in _META.findall(html):
        attrs = {m.group(1).lower(): next(v for v in m.groups()[1:] if v is not None) for m in _ATTR.finditer(meta)}
        if attrs.get("name", "").lower() in ("robots", "googlebot", "bingbot") and re.search(r"\b(noindex|none)\b", attrs.get("content", ""), re.I):
            found.append(f'<meta name="{attrs["name"]}" content="{attrs["content"][:60]}">')
    return found


@pytest.mark.check("site-01", "Search engines may index the public site", severity="medium",
                   refs=("RFC 9309 (Robots Exclusion Protocol)", "Google Search Central: block indexing with noindex"),
                   answers=("robots_txt|robots allow|allows|updated|correct|configured|production|crawl|crawling|indexing",
                            "noindex removed|remove|removed|gone|off|disabled", "search engine|engines index|indexing|crawl|crawling|indexable|visible|allowed",
                            "site|website|page|pages indexable|indexed|crawlable", "seo robots|indexing|noindex|crawl"),
                   # A staging site's item is judged only where the inventory holds it (indexable: false); the
                   # production site passing says nothing about it.
                   answers_unless=("sitemap submitted", "staging|preview"))
def test_indexable(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A site launched with the staging site's ``Disallow: /`` or its ``noindex`` falls out of
    search results within days, and nobody notices until the traffic is gone; a staging site
    without them is indexed next to the real one.  Reads the front page and ``/robots.txt``.
    Passes, for a public site (default), when neither a ``noindex`` (``X-Robots-Tag`` header or
    ``<meta name="robots">``) nor a robots.txt rule keeping all crawlers off the whole site is
    found; for a target with ``indexable: false`` (staging, admin), when one of them is.  n/a
    when the front page is not a web page answered 200 (an API, a login wall)."""
    page = _web_page(http_endpoint)
    robots = _robots(http_endpoint)
    robots_text = robots.text if robots.status_code == 200 else ""
    rule = robots_blocks_everything(robots_text)
    marks = noindex_marks({k.lower(): v for k, v in page.headers.items()}, page.text)
    blocks = ([f"robots.txt: {rule}"] if rule else []) + marks
    wanted = http_endpoint.setting("indexable", True) is not False
    evidence.record(robots_txt=robots.status_code, blocks=blocks, indexable=wanted)
    if wanted:
        require(not blocks, http_endpoint, "search engines are told to stay away: " + "; ".join(blocks),
                f"no noindex and no robots.txt rule blocking the whole site (or set http.{http_endpoint.name}.indexable: false "
                "for a site that must stay out of search)")
    else:
        require(bool(blocks), http_endpoint, f"nothing keeps search engines out (robots.txt {robots.status_code}, no noindex)",
                "X-Robots-Tag: noindex (or a robots.txt Disallow: /) on a site that must stay out of search (indexable: false)")


_SITEMAP_ROOT = re.compile(r"<(?:[A-Za-z0-9_]+:)?(urlset|sitemapindex)\b", re.I)


@pytest.mark.check("site-02", "Sitemap published", severity="low",
                   refs=("sitemaps.org protocol 0.9", "RFC 9309 (Sitemap line of robots.txt)"),
                   answers=("sitemap|sitemap_xml published|present|generated|submitted|available|created|configured|exists?",),
                   answers_unless=("staging|preview", "search console|webmaster"))
def test_sitemap(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """A sitemap tells crawlers which pages exist and when they changed: without one, pages that
    nothing links to yet (a new site's) are found late or not at all.  Reads the ``Sitemap:``
    lines of ``/robots.txt``, else ``/sitemap.xml`` at the site's root, and passes when the first
    one answers 200 with a sitemap or a sitemap index (``<urlset>``, ``<sitemapindex>``).  n/a
    for a site that must stay out of search (``indexable: false``) and when the front page is not
    a web page."""
    if http_endpoint.setting("indexable", True) is False:
        not_applicable(f"{http_endpoint.name}: indexable: false (a site kept out of search needs no sitemap)")
    _web_page(http_endpoint)
    root = _root(http_endpoint)
    robots = _robots(http_endpoint)
    listed = re.findall(r"(?im)^\s*sitemap\s*:\s*(\S+)", robots.text) if robots.status_code == 200 else []
    url = urllib.parse.urljoin(f"{root}/", listed[0]) if listed else f"{root}/sitemap.xml"
    if urllib.parse.urlsplit(url).netloc != urllib.parse.urlsplit(root).netloc:
        evidence.record(sitemap=url, listed_in_robots=True)
        not_applicable(f"{http_endpoint.name}: robots.txt names a sitemap on another host ({url}); it is not fetched from here", unexamined=True)
    answer = http_endpoint.get(url)
    head = answer.text[:4096]
    evidence.record(sitemap=url, listed_in_robots=bool(listed), status=answer.status_code)
    require(answer.status_code == 200 and bool(_SITEMAP_ROOT.search(head)), http_endpoint,
            f"{url} answers {answer.status_code}" + ("" if answer.status_code != 200 else " without <urlset> or <sitemapindex>")
            + ("" if listed else " (robots.txt names no Sitemap)"),
            "a sitemap at /sitemap.xml or on a Sitemap: line of robots.txt")


#: Titles that scaffolds and default server pages ship with: a site launched with one shows it in
#: every search result and browser tab.
DEFAULT_TITLES = frozenset({"react app", "vite app", "vite + react", "vite + react + ts", "vite + vue", "vite + vue + ts", "vite + svelte",
                            "create next app", "nuxt app", "svelte app", "angular app", "document", "untitled", "untitled document",
                            "home", "my app", "my website", "welcome to nginx!", "apache2 debian default page: it works",
                            "apache2 ubuntu default page: it works", "it works!", "test page for the nginx http server", "index",
                            "laravel", "welcome to django", "the install worked successfully! congratulations!", "title", "page title"})
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_LINK = re.compile(r"<link\b[^>]*>", re.I)
_LINK_ATTR = re.compile(r"""\b(rel|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def page_metadata(html: str) -> tuple[str | None, str | None, list[str]]:
    """(the ``<title>``, the meta description, the icons linked) of a page's HTML."""
    title_match = _TITLE.search(html)
    title = " ".join(title_match.group(1).split()) if title_match else None
    description = None
    for meta in _META.findall(html):
        attrs = {m.group(1).lower(): next(v for v in m.groups()[1:] if v is not None) for m in _ATTR.finditer(meta)}
        if attrs.get("name", "").lower() == "description":
            description = " ".join(attrs.get("content", "").split())
    icons = []
    for link in _LINK.findall(html):
        attrs = {m.group(1).lower(): next(v for v in m.groups()[1:] if v is not None) for m in _LINK_ATTR.finditer(link)}
        if "icon" in attrs.get("rel", "").lower().split() and attrs.get("href"):
            icons.append(attrs["href"])
    return title, description, icons


@pytest.mark.check("site-03", "Page title, description and icon set", severity="low",
                   refs=("HTML Living Standard: the title element, meta name=description", "Google Search Central: title links, snippets, favicons"),
                   answers=("favicon|site_icon present|set|added|configured|uploaded|in_place?",
                            "meta tag|tags|description present|set|added|configured|complete|in_place?",
                            "page|site title|titles set|correct|configured|updated|present", "seo meta|metadata|tag|tags|title|basics"),
                   answers_unless=("open_graph|og|twitter card|social", "staging|preview", "analytics"))
def test_page_metadata(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """The title and description are what a search result and a shared link show, the icon what a
    browser tab and a bookmark show.  A site launched with its scaffold's "React App" title, no
    description or no icon looks unfinished wherever it appears.  Reads the front page; passes
    when it has a ``<title>`` that is not a scaffold's or a server's default, a non-empty
    ``<meta name="description">``, and an icon (a ``<link rel="icon">`` whose target answers 200,
    else ``/favicon.ico`` answering 200).  n/a for sites kept out of search (``indexable: false``)
    and when the front page is not a web page."""
    if http_endpoint.setting("indexable", True) is False:
        not_applicable(f"{http_endpoint.name}: indexable: false (a site kept out of search is not judged by how it shows there)")
    page = _web_page(http_endpoint)
    title, description, icons = page_metadata(page.text)
    icon_url = urllib.parse.urljoin(page.url or f"{_root(http_endpoint)}/", icons[0]) if icons else f"{_root(http_endpoint)}/favicon.ico"
    icon_status: int | str = "not fetched"
    if urllib.parse.urlsplit(icon_url).scheme in ("http", "https") and urllib.parse.urlsplit(icon_url).netloc == urllib.parse.urlsplit(
            _root(http_endpoint)).netloc:
        icon_status = http_endpoint.get(icon_url).status_code
    evidence.record(title=title, description=description, icon=icon_url, icon_status=icon_status)
    problems = []
    if not title:
        problems.append("no <title>")
    elif title.lower() in DEFAULT_TITLES:
        problems.append(f"the title is a default: {title!r}")
    if not description:
        problems.append('no <meta name="description">' if description is None else "an empty meta description")
    if icon_status != 200 and icon_status != "not fetched":
        problems.append(f"the icon {icon_url} answers {icon_status}" + ("" if icons else " (no <link rel=\"icon\">)"))
    require(not problems, http_endpoint, "; ".join(problems), "a title of its own, a meta description and an icon answering 200")


_FIELD = re.compile(r"^([A-Za-z-]+):\s*(.*?)\s*$")


def security_txt_fields(text: str) -> dict[str, list[str]]:
    """The fields of a security.txt (RFC 9116): name (lower case) -> values, comments and a PGP
    signature's armour left out."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("-----"):
            continue
        match = _FIELD.match(line)
        if match:
            fields.setdefault(match.group(1).lower(), []).append(match.group(2))
    return fields


def security_txt_problems(fields: dict[str, list[str]], now: dt.datetime) -> list[str]:
    """What keeps a security.txt's fields from RFC 9116: a Contact:, and an Expires: (RFC 3339,
    with its time zone) after ``now`` and at most a year ahead."""
    problems = [] if fields.get("contact") else ["no Contact: field"]
    expiry = (fields.get("expires") or [""])[0]
    if not expiry:
        return [*problems, "no Expires: field"]
    try:
        expires = dt.datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    except ValueError:
        return [*problems, f"Expires: {expiry!r} is not an RFC 3339 date"]
    if expires.tzinfo is None:
        problems.append(f"Expires: {expiry} has no time zone")
    elif expires <= now:
        problems.append(f"it expired on {expires:%Y-%m-%d}")
    elif expires > now + dt.timedelta(days=366):
        problems.append(f"Expires: {expires:%Y-%m-%d} is more than a year ahead")
    return problems


@pytest.mark.check("site-04", "security.txt names a contact and has not expired", severity="low",
                   refs=("RFC 9116: A File Format to Aid in Security Vulnerability Disclosure", "CISA BOD 20-01 (vulnerability disclosure policy)"),
                   answers=("security_txt|securitytxt", "security txt", "vulnerability disclosure|reporting contact|policy|program|page|published|email?",
                            "responsible disclosure contact|policy|page|published|email?", "security contact published|listed|email|page"),
                   answers_unless=("staging|preview",))
def test_security_txt(http_endpoint: HttpTarget, evidence: Evidence) -> None:
    """Whoever finds a vulnerability in the site needs to know whom to tell; without a published
    contact the report goes to a support queue, social media, or nowhere.  Reads
    ``/.well-known/security.txt`` at the site's root and passes when it answers 200 as text with a
    ``Contact:`` and an ``Expires:`` in the future and at most a year ahead (RFC 9116 §2.5.5 and
    §3.5.5).  n/a for sites kept out of search (``indexable: false``) and when the front page is not
    a web page (an API)."""
    if http_endpoint.setting("indexable", True) is False:
        not_applicable(f"{http_endpoint.name}: indexable: false (security.txt is for public sites)")
    _web_page(http_endpoint)
    url = f"{_root(http_endpoint)}/.well-known/security.txt"
    response = http_endpoint.page(url)
    content_type = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    evidence.record(url=url, status=response.status_code, content_type=content_type)
    require(response.status_code == 200 and content_type == "text/plain", http_endpoint,
            f"{url} answers {response.status_code} {content_type or 'without a type'}",
            "a text/plain security.txt at /.well-known/security.txt (RFC 9116)")
    fields = security_txt_fields(response.text)
    evidence.record(contact=fields.get("contact", []), expires=(fields.get("expires") or [None])[0])
    problems = security_txt_problems(fields, dt.datetime.now(dt.timezone.utc))
    require(not problems, http_endpoint, f"{url}: " + "; ".join(problems),
            "a Contact: and an Expires: within the coming year (RFC 9116)")
