"""The bounded HTTP client against a real local HTTP server: size limits, no redirects,
strict JSON; and the URL rules."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dta.oidc import HttpClient, ProviderInvalid, ProviderUnreachable
from dta.oidc.http import MAX_RESPONSE_BYTES, check_url

ROUTES = {
    "/ok": (200, b'{"a": 1}'),
    "/big": (200, b'{"a": "' + b"x" * MAX_RESPONSE_BYTES + b'"}'),
    "/duplicate": (200, b'{"issuer": "a", "issuer": "b"}'),
    "/array": (200, b"[1, 2]"),
    "/not-json": (200, b"<html>"),
    "/redirect": (302, b"{}"),
    "/down": (503, b"busy"),
    "/missing": (404, b'{"error": "nope"}'),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        status, body = ROUTES[self.path]
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        if self.path != "/big":  # the big answer streams without a Content-Length
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client():
    c = HttpClient(timeout=5)
    yield c
    c.close()


def test_json_object(server, client):
    assert client.get_json(server + "/ok", "doc") == {"a": 1}


@pytest.mark.parametrize("path, message", [
    ("/big", "larger than"), ("/duplicate", "repeats a member"), ("/array", "not a JSON object"),
    ("/not-json", "not valid JSON"), ("/redirect", "redirect, which is not followed"),
    ("/missing", "HTTP 404")])
def test_bad_answers_are_provider_invalid(server, client, path, message):
    with pytest.raises(ProviderInvalid, match=message):
        client.get_json(server + path, "doc")


def test_5xx_is_unreachable(server, client):
    with pytest.raises(ProviderUnreachable, match="HTTP 503"):
        client.get_json(server + "/down", "doc")


@pytest.mark.parametrize("url, loopback_ok, good", [
    ("https://idp.test/x", False, True), ("http://idp.test/x", True, False),
    ("http://127.0.0.1:8080/x", True, True), ("http://127.0.0.1:8080/x", False, False),
    ("http://[::1]:80/", True, True), ("http://localhost/", True, True),
    ("http://10.0.0.1/", True, False), ("https://u:p@idp.test/", False, False),
    ("https://idp.test/#f", False, False), ("https:///nohost", False, False),
    ("javascript:alert(1)", True, False), ("https://" + "a" * 3000, False, False),
    (None, True, False), (json.dumps({}), True, False)])
def test_url_rules(url, loopback_ok, good):
    if good:
        assert check_url(url, "u", allow_http_loopback=loopback_ok) == url
    else:
        with pytest.raises(ProviderInvalid):
            check_url(url, "u", allow_http_loopback=loopback_ok)
