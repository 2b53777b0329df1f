"""nginx as a TLS-terminating reverse proxy in front of the sample app, one site per port.

One nginx process serves every site, each on its own HTTPS port plus a plain-HTTP port, so a
check against one site never sees another's configuration.  The ``good`` site is what a
go-live review wants; every other site in ``SITES`` differs from it by one defect (or, for
``insecure``, by one family of defects), so each check fails for its own reason:

=============  ==============================================================================
site           defect
=============  ==============================================================================
good           none: TLS 1.2/1.3, modern ciphers, HTTP/2, HSTS, strict CSP, nosniff, DENY,
               referrer policy, ``server_tokens off``, gzip, HTTP -> HTTPS 301, fixed CORS
               origin, secure cookie flags enforced, in front of the good app
expired_cert   certificate expired two days ago
wrong_host     certificate for ``other.example`` while clients connect to 127.0.0.1/localhost
self_signed    self-signed certificate (not issued by the test CA)
weak_key       1024-bit RSA key
legacy_tls     TLS 1.0 and 1.1 enabled besides 1.2/1.3, with the CBC/SHA-1 ciphers they need
               (``@SECLEVEL=0``, or OpenSSL 3 refuses them)
insecure       HTTP/1.1 only, no security headers, ``Server: nginx/<version>``, CORS reflecting any Origin
               with credentials (``*`` when there is none), plain HTTP served instead of
               redirected, files served from the project checkout (``.git``, ``.env``, a dump)
               and ``/uploads/`` indexed, in front of the bad app (``X-Powered-By``, debug, no
               rate limit...)
=============  ==============================================================================

nginx refuses TRACE itself (405) before any configuration applies, so no site can allow it;
the bad app answers TRACE when reached directly.
"""

from __future__ import annotations

import grp
import pwd
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPSConnection
from pathlib import Path
from typing import Literal

from tests.servers import app, base
from tests.servers.certs import CertFiles, TestCA

#: The one cross-origin caller the good site's CORS policy lets in.
ALLOWED_ORIGIN = "https://app.example.com"
#: The name clients expect in every site's certificate (the wrong_host site has another).
SERVER_NAME = "localhost"
MODERN_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)

Certificate = Literal["valid", "expired", "wrong_host", "self_signed", "rsa1024"]


@dataclass(frozen=True)
class Site:
    """One HTTPS site: which certificate it presents, its TLS and header policy, which app it fronts."""

    name: str
    defect: str
    certificate: Certificate = "valid"
    legacy_tls: bool = False
    hardened_http: bool = True  # security headers, no version banner, strict CORS, HTTP -> HTTPS
    upstream: app.Variant = "good"


SITES: tuple[Site, ...] = (
    Site("good", "none"),
    Site("expired_cert", "certificate expired", certificate="expired"),
    Site("wrong_host", "certificate for other.example", certificate="wrong_host"),
    Site("self_signed", "self-signed certificate", certificate="self_signed"),
    Site("weak_key", "1024-bit RSA key", certificate="rsa1024"),
    Site("legacy_tls", "TLS 1.0 and 1.1 enabled", legacy_tls=True),
    Site(
        "insecure", "no security headers, version banner, permissive CORS, no HTTPS redirect, bad app", hardened_http=False, upstream="bad"
    ),
)


@dataclass
class NginxSites:
    """The running nginx and, per site name, the Instance to put in an inventory."""

    server: base.ServerProcess
    sites: dict[str, base.Instance]

    def stop(self) -> None:
        self.server.stop()


def _issue(ca: TestCA, site: Site, prefix: str) -> CertFiles:
    # The CA directory is shared by the session: a per-launch prefix keeps a second nginx from
    # overwriting the files (and so the admin["certificate"]) of the first.
    stem = f"{prefix}-{site.name}"
    if site.certificate == "expired":
        return ca.issue(stem, expired=True)
    if site.certificate == "wrong_host":
        return ca.issue(stem, ("other.example",))
    if site.certificate == "self_signed":
        return ca.issue(stem, self_signed=True)
    if site.certificate == "rsa1024":
        return ca.issue(stem, key_kind="rsa1024")
    return ca.issue(stem)


#: No 'unsafe-inline'/'unsafe-eval' anywhere, and no framing at all.
CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

_HARDENED_HEADERS = f"""
        server_tokens off;
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
        add_header Content-Security-Policy "{CSP}" always;
        add_header X-Content-Type-Options nosniff always;
        add_header X-Frame-Options DENY always;
        add_header Referrer-Policy strict-origin-when-cross-origin always;
        add_header Access-Control-Allow-Origin $cors_allowed_origin always;
        add_header Vary Origin always;"""

_INSECURE_HEADERS = """
        server_tokens on;
        add_header Access-Control-Allow-Origin $cors_any_origin always;
        add_header Access-Control-Allow-Credentials true always;"""


def _proxy(app_port: int, hardened: bool, location: str = "/") -> str:
    # Upgrade/Connection pass WebSocket handshakes through; the cookie flags are the proxy's
    # second line of defence in front of an app that might forget them.
    cookie_flags = "proxy_cookie_flags ~ secure httponly samesite=lax;" if hardened else ""
    return f"""
        location {location} {{
            proxy_pass http://{base.LOOPBACK}:{app_port};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            {cookie_flags}
        }}"""


def _tls(site: Site) -> str:
    # The library default is level 0 (see OPENSSL_CONF below); every site but the two weak ones
    # puts level 2 back.  OpenSSL 3 only negotiates TLS 1.0/1.1 (SHA-1 signatures) at level 0.
    if site.legacy_tls:
        return "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n        ssl_ciphers DEFAULT:@SECLEVEL=0;"
    level = 0 if site.certificate == "rsa1024" else 2
    return f"ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_ciphers {MODERN_CIPHERS}:@SECLEVEL={level};"


#: What the insecure site's web root holds: the project checkout, as deployed by copying it.
CHECKOUT_FILES = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/config": "[core]\n\trepositoryformatversion = 0\n\tbare = false\n",
    ".env": "# production\nDATABASE_URL=postgres://app:checkout-env-secret@db.internal/app\nDEBUG=false\n",
    "backup.sql": "-- PostgreSQL database dump\n\nCREATE TABLE public.customers (id bigint NOT NULL);\n",
    "uploads/invoice-0001.pdf": "%PDF-1.4\n",
    "app.py": "print('the application')\n",
}


def _checkout(workdir: Path) -> Path:
    root = workdir / "checkout"
    for name, text in CHECKOUT_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _static_from_checkout(root: Path, app_port: int) -> str:
    """The insecure site serves files from the checkout before the app, and indexes uploads/:
    a common nginx set-up (try_files, autoindex) pointed at the wrong folder."""
    return f"""
        root {root};
        location /uploads/ {{ autoindex on; }}
        location / {{ try_files $uri @app; }}
        {_proxy(app_port, False, "@app")}"""


def _server_blocks(site: Site, cert: CertFiles, https_port: int, http_port: int, app_port: int, checkout: Path) -> str:
    headers = _HARDENED_HEADERS if site.hardened_http else _INSECURE_HEADERS
    plain = f"return 301 https://$host:{https_port}$request_uri;" if site.hardened_http else _proxy(app_port, False)
    served = _proxy(app_port, True) if site.hardened_http else _static_from_checkout(checkout, app_port)
    return f"""
    # site {site.name}: {site.defect}
    server {{
        listen {base.LOOPBACK}:{https_port} ssl{" http2" if site.hardened_http else ""};
        server_name {SERVER_NAME};
        ssl_certificate {cert.chain};
        ssl_certificate_key {cert.key};
        {_tls(site)}
        ssl_prefer_server_ciphers off;
        ssl_session_tickets off;
        {headers}
        {served}
    }}
    server {{
        listen {base.LOOPBACK}:{http_port};
        server_name {SERVER_NAME};
        {headers}
        {plain}
    }}
"""


def _config(workdir: Path, user: str | None, blocks: Sequence[str]) -> str:
    # Everything nginx writes (pid, logs, temp files) stays in workdir, which `user` owns: as
    # root, nginx runs its workers as that user, and they must reach their temp files.
    user_line = f"user {user} {grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name};" if user else ""
    temp_paths = "\n".join(f"    {kind}_temp_path {workdir}/{kind}_temp;" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
worker_processes 1;
{user_line}
pid {workdir}/nginx.pid;
error_log {workdir}/nginx.log notice;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
{temp_paths}
    default_type application/octet-stream;
    gzip on;
    gzip_types text/plain application/json;
    gzip_vary on;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    map $http_origin $cors_allowed_origin {{ default ""; "{ALLOWED_ORIGIN}" $http_origin; }}
    map $http_origin $cors_any_origin {{ default $http_origin; "" "*"; }}
{"".join(blocks)}
}}
"""


_OPENSSL_LEVEL_0 = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = DEFAULT:@SECLEVEL=0
"""


def _handshakes(port: int) -> bool:
    # Readiness is a TLS handshake plus a proxied answer; certificates are checked by the tests.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the weak_key site must answer too
    connection = HTTPSConnection(base.LOOPBACK, port, timeout=2, context=context)
    try:
        connection.request("GET", app.HEALTH_PATHS["live"])
        return connection.getresponse().status == 200
    finally:
        connection.close()


def launch_nginx(ca: TestCA, apps: Mapping[app.Variant, base.Instance], sites: Sequence[Site] = SITES) -> NginxSites:
    """Start one nginx serving ``sites``, each proxying to ``apps[site.upstream]`` (``launch_app``).

    Each site's Instance (kind ``http``) has the app's ``entry`` (see ``app.http_entry``) on its
    ``https://`` URL plus ``ca_bundle`` and ``http_url`` (the plain port); ``env`` holds the
    upstream app's login under the site's own variable names; ``admin`` has ``tls_address``
    (``127.0.0.1:PORT``), ``server_name`` (the name a valid certificate carries),
    ``https_port``, ``http_port``, ``defect``, ``certificate``, ``allowed_origin``, ``upstream``.
    All sites share one process: stop them with ``NginxSites.stop``.
    """
    user = base.unprivileged_user()
    workdir = base.make_tempdir("nginx", user)
    ports = {site.name: (base.free_port(), base.free_port()) for site in sites}
    blocks = []
    certs = {}
    checkout = _checkout(workdir)
    for site in sites:
        certs[site.name] = _issue(ca, site, workdir.name)
        blocks.append(_server_blocks(site, certs[site.name], *ports[site.name], apps[site.upstream].admin["port"], checkout))
    config = workdir / "nginx.conf"
    config.write_text(_config(workdir, user, blocks))
    # Debian builds OpenSSL with security level 2, and nginx loads certificates before it applies
    # ssl_ciphers, so only a library default of level 0 lets the weak_key site load its key.
    openssl_conf = workdir / "openssl.cnf"
    openssl_conf.write_text(_OPENSSL_LEVEL_0)
    argv = [base.find_binary("nginx"), "-p", str(workdir), "-c", str(config), "-e", str(workdir / "nginx.log")]
    server = base.ServerProcess("nginx", argv, workdir, workdir / "nginx.log", env={"OPENSSL_CONF": str(openssl_conf)})
    server.start(lambda: all(_handshakes(https_port) for https_port, _ in ports.values()))
    instances = {}
    for site in sites:
        https_port, http_port = ports[site.name]
        name = f"nginx-{site.name}"
        upstream = apps[site.upstream]
        entry = app.http_entry(f"https://{base.LOOPBACK}:{https_port}", name)
        entry["ca_bundle"] = str(ca.ca_file)
        entry["http_url"] = f"http://{base.LOOPBACK}:{http_port}"
        instances[site.name] = base.Instance(
            name=name,
            kind="http",
            entry=entry,
            env=app.credentials_env(name, upstream.admin["username"], upstream.admin["password"]),
            server=server,
            admin={
                "tls_address": f"{base.LOOPBACK}:{https_port}",
                "server_name": SERVER_NAME,
                "https_port": https_port,
                "http_port": http_port,
                "defect": site.defect,
                "certificate": str(certs[site.name].cert),
                "allowed_origin": ALLOWED_ORIGIN,
                "upstream": upstream.name,
            },
        )
    return NginxSites(server, instances)
