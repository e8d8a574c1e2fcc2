"""The device authorization grant (RFC 8628) for ``dta login`` on a machine without a browser.

``start`` asks the provider for a device code and a user code; the person opens
``verification_uri`` (or ``verification_uri_complete``) anywhere and approves; ``wait`` polls
the token endpoint every ``interval`` seconds: ``authorization_pending`` keeps polling,
``slow_down`` adds 5 s to the interval for good (section 3.5), ``expired_token`` and
``access_denied`` end the login, and so does the code's own expiry, checked locally before each
poll. An unreachable provider doubles the interval (section 3.5's back-off) until the code expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dta.oidc.discovery import ProviderMetadata
from dta.oidc.errors import LoginFailed, ProviderInvalid, ProviderUnreachable
from dta.oidc.http import HttpClient, check_url
from dta.oidc.login import DEFAULT_SCOPE, LoginResult, finish_login, login_refused, login_verifier
from dta.oidc.text import printable
from dta.oidc.token_endpoint import request_tokens
from dta.oidc.tokens import OAuthError, oauth_error
from dta.oidc.verifier import TokenVerifier

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 8628 section 3.2: "If no value is provided, clients MUST use 5 as the default".
DEFAULT_INTERVAL = 5
# Section 3.5: slow_down adds 5 seconds to the interval.
SLOW_DOWN_STEP = 5
# A provider asking for polls further apart than a minute would leave the person waiting.
MAX_INTERVAL = 60
# Device codes live 5-15 minutes; half an hour bounds how long a login may wait.
MAX_EXPIRES_IN = 1800
# People type user codes: 8-10 characters in practice.
MAX_USER_CODE = 32
# Device codes are opaque provider strings, typically 40-100 characters.
MAX_DEVICE_CODE = 1024


@dataclass(frozen=True)
class DeviceAuthorization:
    """The provider's answer to ``start``; show ``user_code`` and ``verification_uri``."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int
    started_at: float  # clock() when the provider answered
    device_code: str = field(repr=False)


def _text(body: dict, name: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise ProviderInvalid(f"device authorization: {name} must be 1..{limit} printable "
                              f"characters, not {printable(value)}")
    return value


def _seconds(body: dict, name: str, default: int | None, limit: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise ProviderInvalid(f"device authorization: {name} must be 1..{limit} seconds")
    return value


class DeviceLogin:
    """``login = DeviceLogin(metadata, client_id=...)``; ``auth = login.start()``; show
    ``auth.user_code``; ``result = login.wait(auth)``. ``sleep`` and ``clock`` are the waits
    between polls and the time they are measured with."""

    def __init__(self, metadata: ProviderMetadata, *, client_id: str,
                 verifier: TokenVerifier | None = None, http: HttpClient | None = None,
                 sleep=time.sleep, clock=time.monotonic):
        if metadata.device_authorization_endpoint is None:
            raise ProviderInvalid(f"{printable(metadata.issuer)} has no "
                                  "device_authorization_endpoint (RFC 8628)")
        self.metadata, self.client_id = metadata, client_id
        self.http = http or HttpClient()
        self.verifier = login_verifier(metadata, verifier, self.http)
        self._sleep, self._clock = sleep, clock

    def start(self, *, scope: str = DEFAULT_SCOPE, resources: tuple[str, ...] = ()
              ) -> DeviceAuthorization:
        form = {"client_id": self.client_id, "scope": scope}
        if resources:
            form["resource"] = list(resources)
        status, body = self.http.post_form(self.metadata.device_authorization_endpoint, form,
                                           "device authorization")
        if status != 200:
            raise login_refused(oauth_error(status, body, "device authorization"))
        allow_http = self.metadata.allows_http_loopback
        complete = _text(body, "verification_uri_complete", 2048, required=False)
        return DeviceAuthorization(
            user_code=_text(body, "user_code", MAX_USER_CODE),
            verification_uri=check_url(_text(body, "verification_uri", 2048), "verification_uri",
                                       allow_http_loopback=allow_http),
            verification_uri_complete=None if complete is None else check_url(
                complete, "verification_uri_complete", allow_http_loopback=allow_http),
            expires_in=_seconds(body, "expires_in", None, MAX_EXPIRES_IN),
            interval=_seconds(body, "interval", DEFAULT_INTERVAL, MAX_INTERVAL),
            started_at=self._clock(),
            device_code=_text(body, "device_code", MAX_DEVICE_CODE))

    def wait(self, authorization: DeviceAuthorization, *,
             resource: str | None = None) -> LoginResult:
        """Poll until the person approves (LoginResult) or the login ends (LoginFailed)."""
        form = {"grant_type": DEVICE_CODE_GRANT, "device_code": authorization.device_code}
        if resource:
            form["resource"] = resource
        deadline = authorization.started_at + authorization.expires_in
        interval = authorization.interval
        while True:
            if self._clock() + interval > deadline:
                raise LoginFailed("expired", "the login code expired before it was approved")
            self._sleep(interval)
            try:
                tokens = request_tokens(self.metadata, form, client_id=self.client_id,
                                        http=self.http, what="device code poll")
            except ProviderUnreachable:
                interval = min(interval * 2, MAX_INTERVAL)
                continue
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval = min(interval + SLOW_DOWN_STEP, MAX_INTERVAL)
                    continue
                raise login_refused(exc) from None
            return finish_login(tokens, self.verifier, client_id=self.client_id, nonce=None)
