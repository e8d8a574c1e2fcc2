"""The authorization code flow with PKCE (RFC 7636, S256) on a loopback redirect (RFC 8252).

``dta login`` on a machine with a browser: a one-shot HTTP listener on 127.0.0.1 takes an
ephemeral port (the provider ignores the port of a native client's loopback redirect URI, RFC
8252 section 7.3); the browser is sent to ``authorization_url``; the provider redirects it back
with ``code`` and ``state``. A callback whose ``state`` is not ours (compared in constant time)
is answered 400 and ignored, so a stray or forged request cannot end or hijack the login. The
``iss`` parameter (RFC 9207) must be the issuer when present, and must be present when the
provider says it sends it. The code is exchanged with the PKCE verifier; the ID token must carry
our nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from dta.oidc.discovery import ProviderMetadata
from dta.oidc.errors import LoginFailed, ProviderInvalid
from dta.oidc.http import HttpClient
from dta.oidc.login import (
    DEFAULT_SCOPE,
    LoginResult,
    finish_login,
    login_refused,
    login_verifier,
    random_token,
)
from dta.oidc.text import printable
from dta.oidc.token_endpoint import request_tokens
from dta.oidc.tokens import OAuthError
from dta.oidc.verifier import TokenVerifier

CALLBACK_PATH = "/callback"
# A person needs a few minutes to sign in; after five the login is abandoned.
DEFAULT_TIMEOUT = 300.0
# Authorization codes are short opaque strings (oidc-provider: 43 characters).
MAX_CODE = 1024
# A callback query has code, state, iss and maybe error fields: 4 KiB is far beyond that.
MAX_QUERY = 4096

_PAGE = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>dta login</title></head>"
         "<body><p>{}</p></body></html>")


def s256_challenge(code_verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))), RFC 7636 section 4.2."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge): a 43-character verifier of 256 random bits."""
    verifier = random_token(32)
    return verifier, s256_challenge(verifier)


class LoopbackRedirect:
    """A one-shot redirect listener on 127.0.0.1 (ephemeral port) that accepts only the
    callback carrying ``state``. Use as a context manager; ``wait()`` returns its parameters."""

    def __init__(self, state: str):
        self._state = state.encode("ascii")
        self._done = threading.Event()
        self.params: dict[str, str] | None = None
        self.refused = 0  # callbacks answered 400 (wrong state, malformed)
        self._server = HTTPServer(("127.0.0.1", 0), self._handler_class())
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_port}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="dta-login-redirect")

    def __enter__(self) -> "LoopbackRedirect":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> dict[str, str]:
        if not self._done.wait(timeout):
            raise LoginFailed("timeout", f"no login callback within {timeout:.0f} s")
        return self.params

    def _accept(self, query: str) -> tuple[int, str]:
        if self._done.is_set():
            return 400, "This login has already completed."
        parsed = parse_qs(query, keep_blank_values=True) if len(query) <= MAX_QUERY else {}
        if not parsed or any(len(v) != 1 for v in parsed.values()):
            self.refused += 1
            return 400, "Malformed login callback."
        params = {k: v[0] for k, v in parsed.items()}
        if not hmac.compare_digest(params.get("state", "").encode("utf-8"), self._state):
            self.refused += 1
            return 400, "This callback is not for the login in progress (state mismatch)."
        self.params = params
        self._done.set()
        return 200, "Login received; you can close this window and return to dta."

    def _handler_class(self):
        redirect = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                status, text = ((404, "Not found.") if parts.path != CALLBACK_PATH
                                else redirect._accept(parts.query))
                body = _PAGE.format(text).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # the query holds the code: never log it
                pass

        return Handler


class CodeLogin:
    """``with CodeLogin(metadata, client_id=...) as login:`` open ``login.authorization_url``
    in a browser, then ``result = login.wait()``."""

    def __init__(self, metadata: ProviderMetadata, *, client_id: str,
                 scope: str = DEFAULT_SCOPE, resources: tuple[str, ...] = (),
                 verifier: TokenVerifier | None = None, http: HttpClient | None = None):
        methods = metadata.code_challenge_methods_supported
        if metadata.authorization_endpoint is None or (methods and "S256" not in methods):
            raise ProviderInvalid(f"{printable(metadata.issuer)} has no authorization endpoint "
                                  "with PKCE S256")
        self.metadata, self.client_id = metadata, client_id
        self.http = http or HttpClient()
        self.verifier = login_verifier(metadata, verifier, self.http)
        self.state, self.nonce = random_token(), random_token()
        self._code_verifier, challenge = pkce_pair()
        self.redirect = LoopbackRedirect(self.state)
        query = {"response_type": "code", "client_id": client_id, "scope": scope,
                 "redirect_uri": self.redirect.redirect_uri, "state": self.state,
                 "nonce": self.nonce, "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        pairs = list(query.items()) + [("resource", r) for r in resources]
        self.authorization_url = f"{metadata.authorization_endpoint}?{urlencode(pairs)}"

    def __enter__(self) -> "CodeLogin":
        self.redirect.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.redirect.__exit__(*exc)

    def wait(self, timeout: float = DEFAULT_TIMEOUT, *,
             resource: str | None = None) -> LoginResult:
        """The login's result once the browser is redirected back; LoginFailed otherwise."""
        params = self.redirect.wait(timeout)
        self._check_callback(params)
        form = {"grant_type": "authorization_code", "code": params["code"],
                "redirect_uri": self.redirect.redirect_uri,
                "code_verifier": self._code_verifier}
        if resource:
            form["resource"] = resource
        try:
            tokens = request_tokens(self.metadata, form, client_id=self.client_id,
                                    http=self.http, what="authorization code exchange")
        except OAuthError as exc:
            raise login_refused(exc) from None
        return finish_login(tokens, self.verifier, client_id=self.client_id, nonce=self.nonce)

    def _check_callback(self, params: dict[str, str]) -> None:
        iss = params.get("iss")
        if (iss is not None or self.metadata.authorization_response_iss_parameter_supported) \
                and iss != self.metadata.issuer:
            raise LoginFailed("issuer-mismatch", f"the callback's iss {printable(iss)} is not "
                                                 f"{printable(self.metadata.issuer)}")
        if "error" in params:
            raise login_refused(OAuthError(printable(params["error"], 64),
                                           printable(params.get("error_description")),
                                           "authorization"))
        code = params.get("code", "")
        if not 0 < len(code) <= MAX_CODE:
            raise LoginFailed("provider-error", "the callback carries no usable code")
