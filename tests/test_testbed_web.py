"""The web and host launchers of the test bed: the sample app, nginx and OpenSSH start, answer
real clients, stop cleanly, and every bad variant really carries the defect it is named for, so
a check that passes on the good server and fails on the bad one is tested against the real thing.

All traffic goes to 127.0.0.1; proxies from the environment are switched off in every client.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import ssl
import string
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import jwt
import paramiko
import pytest
import requests
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.sync.client import connect as websocket_connect

from tests.servers import base
from tests.servers.app import launch_app
from tests.servers.base import Instance
from tests.servers.certs import TestCA
from tests.servers.nginx import ALLOWED_ORIGIN, SITES, launch_nginx
from tests.servers.sshd import launch_sshd

#: uvicorn drops the connection after an unhandled error; a kept-alive one would then be reset.
CLOSE = {"Connection": "close"}
SECURITY_HEADERS = ("Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


# --- clients ---


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy or netrc from the environment: traffic stays on 127.0.0.1
        yield session


def _url(instance: Instance, key: str) -> str:
    return f"{instance.entry['url']}{instance.entry['paths'][key]}"


def _verify(instance: Instance) -> str | bool:
    ca_bundle: str | bool = instance.entry.get("ca_bundle", True)  # the plain-HTTP app has none
    return ca_bundle


def _credentials(instance: Instance) -> dict[str, str]:
    """The entry's login with its ``${VAR}`` references resolved from ``env``, as a runner would."""
    auth = instance.entry["auth"]
    return {key: string.Template(auth[key]).substitute(instance.env) for key in ("username", "password")}


def _login(http: requests.Session, instance: Instance, username: str, password: str) -> requests.Response:
    url = instance.entry["url"] + instance.entry["auth"]["login_path"]
    return http.post(url, json={"username": username, "password": password}, verify=_verify(instance))


def _token_lifetime(token: str) -> int:
    claims = jwt.decode(token, options={"verify_signature": False})
    return int(claims["exp"]) - int(claims["iat"])


def _cookie_attributes(response: requests.Response) -> set[str]:
    """The attribute names of the Set-Cookie header, lower-cased: {"secure", "httponly", ...}."""
    attributes = response.headers["Set-Cookie"].split(";")[1:]
    return {attribute.split("=")[0].strip().lower() for attribute in attributes}


def _address(instance: Instance) -> tuple[str, int]:
    host, port = instance.admin["tls_address"].rsplit(":", 1)
    return host, int(port)


def _handshake(instance: Instance, context: ssl.SSLContext) -> tuple[str, bytes]:
    """TLS version and DER certificate after a handshake with the site's expected server name."""
    with (
        socket.create_connection(_address(instance), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=instance.admin["server_name"]) as tls,
    ):
        version, der = tls.version(), tls.getpeercert(binary_form=True)
    assert version is not None
    assert der is not None
    return version, der


def _permissive_context() -> ssl.SSLContext:
    """Completes a handshake whatever the certificate, to look at what the server presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _tls10_context() -> ssl.SSLContext:
    context = _permissive_context()
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0; offering it is the point of this client.
        warnings.filterwarnings("ignore", "ssl.TLSVersion.TLSv1 is deprecated", DeprecationWarning)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
    return context


# --- the sample app ---


@pytest.mark.parametrize("fixture", ["sample_app_good", "sample_app_bad"])
def test_app_answers_health_endpoints(fixture: str, request: pytest.FixtureRequest, http: requests.Session) -> None:
    app: Instance = request.getfixturevalue(fixture)
    assert http.get(_url(app, "health")).json() == {"status": "ok"}
    assert http.get(_url(app, "live")).status_code == 200
    ready = http.get(_url(app, "ready"))
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": "not configured", "redis": "not configured"}}
    metrics = http.get(_url(app, "metrics"))
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE http_requests_total counter" in metrics.text
    assert f'app_info{{variant="{app.admin["variant"]}"}} 1' in metrics.text


def test_app_ready_probes_real_dependencies(pg_bad: Instance, redis_bad: Instance, http: requests.Session) -> None:
    nothing_there = f"redis://{base.LOOPBACK}:{base.free_port()}/0"
    app = launch_app("good", postgres_url=pg_bad.entry["dsn"], redis_url=redis_bad.entry["url"])
    try:
        assert http.get(_url(app, "ready")).json()["checks"] == {"postgres": "ok", "redis": "ok"}
    finally:
        app.stop()
    app = launch_app("good", redis_url=nothing_there)
    try:
        ready = http.get(_url(app, "ready"))
    finally:
        app.stop()
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("error")


def test_good_app_guards_login_api_and_admin(sample_app_good: Instance, http: requests.Session) -> None:
    app, url = sample_app_good, sample_app_good.entry["url"]
    credentials = _credentials(app)
    assert _login(http, app, credentials["username"], "wrong").status_code == 401
    assert _login(http, app, "admin", "admin").status_code == 401
    login = _login(http, app, **credentials)
    token = login.json()["access_token"]
    assert _token_lifetime(token) == 15 * 60
    assert {"secure", "httponly", "samesite"} <= _cookie_attributes(login)
    assert "samesite=lax" in login.headers["Set-Cookie"].lower()

    protected = url + app.entry["auth"]["protected_paths"][0]
    assert http.get(protected).status_code == 401
    assert http.get(protected, headers={"Authorization": f"Bearer {token}"}).json() == {"username": credentials["username"]}
    unsigned = jwt.encode({"sub": "admin", "exp": 2**31}, "", algorithm="none")
    assert http.get(protected, headers={"Authorization": f"Bearer {unsigned}"}).status_code == 401

    admin = url + app.entry["admin_paths"][0]
    assert http.get(admin).status_code == 401
    assert http.get(admin, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_good_app_reveals_nothing(sample_app_good: Instance, http: requests.Session) -> None:
    url = sample_app_good.entry["url"]
    error = http.get(url + "/api/search?limit=oops", headers=CLOSE)
    assert (error.status_code, error.text) == (500, "Internal Server Error")
    assert http.get(url + "/debug").status_code == 404
    assert http.request("TRACE", _url(sample_app_good, "health")).status_code == 405
    assert not {"Server", "X-Powered-By"} & set(error.headers)


def test_bad_app_has_its_defects(sample_app_bad: Instance, http: requests.Session) -> None:
    app, url = sample_app_bad, sample_app_bad.entry["url"]
    login = _login(http, app, "admin", "admin")
    assert login.status_code == 200
    assert _token_lifetime(login.json()["access_token"]) == 30 * 24 * 3600
    assert not {"secure", "httponly", "samesite"} & _cookie_attributes(login)
    unsigned = jwt.encode({"sub": "mallory"}, "", algorithm="none")
    me = http.get(url + "/api/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert me.json() == {"username": "mallory"}
    assert http.get(url + "/admin").status_code == 200
    assert http.get(url + "/debug").json()["debug"] is True
    error = http.get(url + "/api/search?limit=oops", headers=CLOSE)
    assert error.status_code == 500
    assert "Traceback" in error.text
    banner = http.get(_url(app, "health")).headers
    assert banner["X-Powered-By"].startswith("Starlette/")
    assert banner["Server"] == "uvicorn"
    trace = http.request("TRACE", _url(app, "health"), headers={"X-Probe": "xst"})
    assert trace.status_code == 200
    assert "x-probe: xst" in trace.text


# --- nginx ---


def test_nginx_good_site_is_hardened(nginx_sites: dict[str, Instance], http: requests.Session) -> None:
    site = nginx_sites["good"]
    response = http.get(_url(site, "health"), verify=site.entry["ca_bundle"])
    assert response.json() == {"status": "ok"}
    headers = response.headers
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp
    assert "unsafe-" not in csp
    assert (headers["X-Content-Type-Options"], headers["X-Frame-Options"]) == ("nosniff", "DENY")
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["Server"] == "nginx"
    assert "X-Powered-By" not in headers

    ready = http.get(_url(site, "ready"), verify=site.entry["ca_bundle"], headers={"Accept-Encoding": "gzip"})
    assert ready.headers["Content-Encoding"] == "gzip"
    assert http.request("TRACE", _url(site, "health"), verify=site.entry["ca_bundle"]).status_code == 405
    redirect = http.get(site.entry["http_url"] + "/health", allow_redirects=False)
    assert (redirect.status_code, redirect.headers["Location"]) == (301, _url(site, "health"))

    allowed = http.get(_url(site, "health"), verify=site.entry["ca_bundle"], headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    foreign = http.get(_url(site, "health"), verify=site.entry["ca_bundle"], headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_nginx_good_site_passes_login_and_websocket_through(nginx_sites: dict[str, Instance], http: requests.Session) -> None:
    site = nginx_sites["good"]
    protected = site.entry["url"] + site.entry["auth"]["protected_paths"][0]
    assert http.get(protected, verify=site.entry["ca_bundle"]).status_code == 401
    assert http.get(site.entry["url"] + site.entry["admin_paths"][0], verify=site.entry["ca_bundle"]).status_code == 401
    login = _login(http, site, **_credentials(site))
    assert {"secure", "httponly", "samesite"} <= _cookie_attributes(login)
    token = login.json()["access_token"]
    me = http.get(protected, verify=site.entry["ca_bundle"], headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    # The Secure session cookie came back through nginx over HTTPS and is enough on its own.
    assert http.get(protected, verify=site.entry["ca_bundle"]).status_code == 200

    context = ssl.create_default_context(cafile=site.entry["ca_bundle"])
    uri = site.entry["url"].replace("https://", "wss://") + site.entry["websocket_path"]
    with websocket_connect(uri, ssl=context, proxy=None, open_timeout=5) as websocket:
        websocket.send("ping over TLS")
        assert websocket.recv(timeout=5) == "ping over TLS"


@pytest.mark.parametrize(
    ("name", "verify_error"),
    [
        ("expired_cert", "certificate has expired"),
        ("wrong_host", "Hostname mismatch"),
        ("self_signed", "self-signed certificate"),
        ("weak_key", "EE certificate key too weak"),
    ],
)
def test_nginx_certificate_defects_fail_verification(nginx_sites: dict[str, Instance], name: str, verify_error: str) -> None:
    site = nginx_sites[name]
    context = ssl.create_default_context(cafile=site.entry["ca_bundle"])
    with pytest.raises(ssl.SSLCertVerificationError, match=verify_error):
        _handshake(site, context)


def test_nginx_good_certificate_verifies(nginx_sites: dict[str, Instance]) -> None:
    site = nginx_sites["good"]
    version, _ = _handshake(site, ssl.create_default_context(cafile=site.entry["ca_bundle"]))
    assert version == "TLSv1.3"


def test_nginx_weak_key_site_presents_1024_bit_rsa(nginx_sites: dict[str, Instance]) -> None:
    _, der = _handshake(nginx_sites["weak_key"], _permissive_context())
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 1024


def test_nginx_wrong_host_site_names_another_host(nginx_sites: dict[str, Instance]) -> None:
    _, der = _handshake(nginx_sites["wrong_host"], _permissive_context())
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == ["other.example"]


def test_nginx_only_legacy_site_speaks_tls10(nginx_sites: dict[str, Instance]) -> None:
    version, _ = _handshake(nginx_sites["legacy_tls"], _tls10_context())
    assert version == "TLSv1"
    with pytest.raises(ssl.SSLError, match="protocol version"):
        _handshake(nginx_sites["good"], _tls10_context())


def test_nginx_insecure_site_has_its_defects(nginx_sites: dict[str, Instance], http: requests.Session) -> None:
    site = nginx_sites["insecure"]
    evil = "https://evil.example"
    response = http.get(_url(site, "health"), verify=site.entry["ca_bundle"], headers={"Origin": evil})
    assert not set(SECURITY_HEADERS) & set(response.headers)
    assert response.headers["Server"].startswith("nginx/")
    assert response.headers["X-Powered-By"].startswith("Starlette/")
    assert response.headers["Access-Control-Allow-Origin"] == evil
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    anonymous = http.get(_url(site, "health"), verify=site.entry["ca_bundle"])
    assert anonymous.headers["Access-Control-Allow-Origin"] == "*"
    plain = http.get(site.entry["http_url"] + "/health", allow_redirects=False)
    assert plain.status_code == 200
    assert _login(http, site, "admin", "admin").status_code == 200
    # nginx answers TRACE with 405 before any configuration applies: no site can allow it.
    assert http.request("TRACE", _url(site, "health"), verify=site.entry["ca_bundle"]).status_code == 405


def test_nginx_rate_limit_on_good_site_only(nginx_sites: dict[str, Instance], http: requests.Session) -> None:
    good, insecure = nginx_sites["good"], nginx_sites["insecure"]
    statuses = []
    for _ in range(11):  # 10 allowed per window; earlier tests may have used some already
        response = http.get(good.entry["url"] + good.entry["rate_limited_path"], verify=good.entry["ca_bundle"])
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["RateLimit-Limit"] == "10"
    assert response.headers["RateLimit-Remaining"] == "0"
    unlimited = [
        http.get(insecure.entry["url"] + insecure.entry["rate_limited_path"], verify=insecure.entry["ca_bundle"]).status_code
        for _ in range(15)
    ]
    assert set(unlimited) == {200}


def test_nginx_sites_entries(nginx_sites: dict[str, Instance], test_ca: TestCA) -> None:
    assert set(nginx_sites) == {site.name for site in SITES}
    for site in nginx_sites.values():
        host, port = _address(site)
        assert site.entry["url"] == f"https://{host}:{port}"
        assert site.entry["ca_bundle"] == str(test_ca.ca_file)
        assert site.admin["server_name"] == "localhost"
        assert set(site.env) == {base.env_name(site.name, "username"), base.env_name(site.name, "password")}


# --- OpenSSH ---


@pytest.mark.parametrize("fixture", ["sshd_hardened", "sshd_weak"])
def test_sshd_serves_testinfra_over_ssh(fixture: str, request: pytest.FixtureRequest) -> None:
    sshd: Instance = request.getfixturevalue(fixture)
    entry = sshd.entry
    host = testinfra.get_host(
        entry["backend"],
        ssh_identity_file=entry["ssh_identity_file"],
        ssh_extra_args=f"-F /dev/null -o UserKnownHostsFile={entry['ssh_known_hosts']} -o StrictHostKeyChecking=yes",
    )
    assert host.run("true").rc == 0
    assert host.file("/etc/passwd").exists


@pytest.mark.parametrize("fixture", ["sshd_hardened", "sshd_weak"])
def test_sshd_serves_paramiko(fixture: str, request: pytest.FixtureRequest) -> None:
    sshd: Instance = request.getfixturevalue(fixture)
    client = paramiko.SSHClient()
    client.load_host_keys(sshd.admin["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            base.LOOPBACK,
            port=sshd.admin["port"],
            username="root",
            key_filename=sshd.admin["identity_file"],
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
        transport = client.get_transport()
        assert transport is not None
        digest = hashlib.sha256(transport.get_remote_server_key().asbytes()).digest()
        assert sshd.admin["host_key_fingerprint"] == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    finally:
        client.close()
    # testinfra's paramiko backend never reads a known_hosts file: it warns and accepts the key.
    host = testinfra.get_host(sshd.admin["paramiko_backend"], ssh_identity_file=sshd.admin["identity_file"])
    try:
        with pytest.warns(UserWarning, match="Unknown ssh-ed25519 host key"):
            assert host.run("true").rc == 0
    finally:
        host.backend.client.close()


def _ssh(sshd: Instance, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            sshd.admin["identity_file"],
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={sshd.admin['known_hosts']}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            str(sshd.admin["port"]),
            *options,
            f"root@{base.LOOPBACK}",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


@pytest.mark.parametrize(
    ("options", "refused_by_hardened"),
    [
        (("-c", "aes128-cbc"), "no matching cipher"),
        (("-c", "aes128-ctr", "-m", "hmac-sha1"), "no matching MAC"),  # an AEAD cipher would need no MAC
        (("-o", "KexAlgorithms=diffie-hellman-group14-sha1"), "no matching key exchange"),
    ],
)
def test_sshd_weak_accepts_algorithms_hardened_refuses(
    sshd_hardened: Instance, sshd_weak: Instance, options: tuple[str, ...], refused_by_hardened: str
) -> None:
    assert _ssh(sshd_weak, *options).returncode == 0
    refused = _ssh(sshd_hardened, *options)
    assert refused.returncode == 255
    assert refused_by_hardened in refused.stderr


def test_sshd_weak_offers_passwords(sshd_hardened: Instance, sshd_weak: Instance) -> None:
    # Asking for no method makes the server list the ones it would accept.
    assert "Permission denied (publickey)." in _ssh(sshd_hardened, "-o", "PreferredAuthentications=none").stderr
    assert "password" in _ssh(sshd_weak, "-o", "PreferredAuthentications=none").stderr


# --- stopping ---


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_launchers_stop_without_leftovers(test_ca: TestCA, sample_app_good: Instance) -> None:
    with contextlib.ExitStack() as stack:  # stops them in reverse order, also if an assertion fails
        app = launch_app("bad")
        stack.callback(app.stop)
        sites = launch_nginx(test_ca, {"good": sample_app_good, "bad": app}, SITES[:1])
        stack.callback(sites.stop)
        sshd = launch_sshd("weak")
        stack.callback(sshd.stop)
        servers = [server for server in (app.server, sites.server, sshd.server) if server is not None]
        pids = [pid for server in servers for pid in (server.pid, *_children(server.pid))]
        workdirs = [server.workdir for server in servers]
        assert len(pids) > len(servers)  # nginx's worker at least
        assert all(_running(pid) for pid in pids)
        assert all(path.is_dir() for path in workdirs)

    assert [pid for pid in pids if _running(pid)] == []
    assert [path for path in workdirs if os.path.exists(path)] == []
