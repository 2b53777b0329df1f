"""The bounded session reads the environment's proxy and CA settings once per origin, and
they are what requests itself would take from it (no request is sent here); an idempotent
request whose kept-alive connection the server closed is sent again once, on a new connection."""

from __future__ import annotations

import pytest
import requests

from pytest_deploycheck.targets.http_transport import ProtocolGarbage, bounded_session, request
from tests.servers.hostile import HostileServer, reset, stale_keep_alive


def test_environment_settings_are_requests_own_read_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.2")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    ours, theirs = bounded_session(), requests.Session()
    for url in ("https://127.0.0.1/a", "https://127.0.0.1/b?x=1", "https://127.0.0.2/", "http://127.0.0.1/"):
        expected = theirs.merge_environment_settings(url, {}, None, None, None)
        assert ours.merge_environment_settings(url, {}, None, None, None) == expected
    assert ours.merge_environment_settings("https://127.0.0.1/", {}, None, None, None)["proxies"]["https"] == "http://127.0.0.1:9"
    assert "https" not in ours.merge_environment_settings("https://127.0.0.2/", {}, None, None, None)["proxies"]  # NO_PROXY
    assert ours.merge_environment_settings("https://127.0.0.1/", {}, None, None, None)["verify"] == "/etc/ssl/certs/ca-certificates.crt"
    # Read once per origin: the environment a run started with holds for the whole run.
    first = ours.merge_environment_settings("https://127.0.0.3/a", {}, None, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:10")
    assert ours.merge_environment_settings("https://127.0.0.3/b", {}, None, None, None) == first
    assert ours.merge_environment_settings("https://127.0.0.4/", {}, None, None, None)["proxies"]["https"] == "http://127.0.0.1:10"
    settings = ours.merge_environment_settings("https://127.0.0.3/", {}, None, None, None)
    settings["proxies"]["https"] = "changed"  # a caller's copy, not the session's memory
    assert ours.merge_environment_settings("https://127.0.0.3/", {}, None, None, None)["proxies"]["https"] == "http://127.0.0.1:9"


def test_a_request_on_a_kept_alive_connection_the_server_closed_is_sent_again_once() -> None:
    with HostileServer(stale_keep_alive, name="stale-keep-alive") as server:
        session = bounded_session()
        url = f"http://127.0.0.1:{server.port}/health"
        assert request(session, "GET", url, deadline=5).text == "ok"  # connection 1
        # Connection 1 is reset as the second GET goes out on it: sent again on connection 2.
        assert request(session, "GET", url, deadline=5).text == "ok"
        assert server.connections == 2
        # A POST is never sent twice: the reset of connection 2 is the answer (read as a reset, or as
        # a close, depending on which the client meets first).
        with pytest.raises(ProtocolGarbage, match=r"connection reset by peer|closed the connection without an HTTP answer"):
            request(session, "POST", url, deadline=5, data=b"{}")
        assert server.connections == 2


def test_a_reset_on_a_new_connection_is_not_retried() -> None:
    with HostileServer(reset, name="reset") as server:
        with pytest.raises(ProtocolGarbage, match=r"connection reset by peer|closed the connection without an HTTP answer"):
            request(bounded_session(), "GET", f"http://127.0.0.1:{server.port}/", deadline=5)
        assert server.connections == 1
