"""The one HTTP client the OpenID code uses: bounded, no redirects, JSON objects only.

Everything fetched from a provider (discovery, JWKS, token responses) is read through here, so
every answer has the same limits: a timeout, a maximum size (counted while streaming, before
parsing), a JSON object with no duplicate member names, and no redirect is followed (a provider's
endpoints are named by its discovery document, never by a Location header).
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

import httpx

from dta.oidc.errors import ProviderInvalid, ProviderUnreachable
from dta.oidc.text import printable

# A provider that has not answered in 10 s is down for our purposes; a person is waiting.
TIMEOUT = 10.0
# Discovery documents are 2-5 KB, a JWKS with a few RSA keys ~5 KB, token responses < 8 KB:
# 64 KiB is an order of magnitude above each, and bounds the memory one answer can take.
MAX_RESPONSE_BYTES = 64 * 1024
# URLs in discovery documents and device authorization responses are short; 2 KiB is the
# longest URL browsers and proxies reliably handle.
MAX_URL = 2048


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: object, what: str, *, allow_http_loopback: bool) -> str:
    """``url`` if it is an absolute https URL (or http on a loopback host, when allowed), with no
    user info and no fragment; ProviderInvalid naming ``what`` otherwise."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise ProviderInvalid(f"{what} is not a URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ProviderInvalid(f"{what} is not a valid URL: {printable(url)}") from None
    if parts.scheme == "http" and allow_http_loopback and is_loopback_host(host):
        pass
    elif parts.scheme != "https":
        raise ProviderInvalid(f"{what} must use https (plain http only on loopback for tests): "
                              f"{printable(url)}")
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        raise ProviderInvalid(f"{what} must have a host and no user info or fragment: "
                              f"{printable(url)}")
    return url


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate member name")
        out[key] = value
    return out


def parse_json_object(body: bytes, what: str) -> dict:
    try:
        value = json.loads(body, object_pairs_hook=_object_without_duplicates)
    except (ValueError, RecursionError):
        raise ProviderInvalid(f"{what} is not valid JSON (or repeats a member name)") from None
    if not isinstance(value, dict):
        raise ProviderInvalid(f"{what} is not a JSON object")
    return value


class HttpClient:
    """A thin, bounded wrapper over one httpx.Client (connection pooling, thread-safe)."""

    def __init__(self, *, timeout: float = TIMEOUT, max_bytes: int = MAX_RESPONSE_BYTES):
        self.max_bytes = max_bytes
        self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                    headers={"Accept": "application/json"})

    def close(self) -> None:
        self._client.close()

    def get_json(self, url: str, what: str) -> dict:
        status, body = self._request("GET", url, what)
        if status != 200:
            raise ProviderInvalid(f"{what}: HTTP {status} from {printable(url)}")
        return body

    def post_form(self, url: str, form: dict, what: str,
                  headers: dict | None = None) -> tuple[int, dict]:
        """(status, JSON object) of a form POST; 4xx answers are returned for the caller to
        read (OAuth errors are JSON bodies on 400/401)."""
        return self._request("POST", url, what, data=form, headers=headers)

    def _request(self, method: str, url: str, what: str, **kwargs) -> tuple[int, dict]:
        try:
            with self._client.stream(method, url, **kwargs) as response:
                body = self._read_bounded(response, what)
                status = response.status_code
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"{what}: could not reach {printable(url)} "
                                      f"({type(exc).__name__})") from None
        if status >= 500:
            raise ProviderUnreachable(f"{what}: HTTP {status} from {printable(url)}")
        if 300 <= status < 400:
            raise ProviderInvalid(f"{what}: {printable(url)} answered with a redirect, "
                                  "which is not followed")
        return status, parse_json_object(body, what)

    def _read_bounded(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise ProviderInvalid(f"{what} is larger than {self.max_bytes} bytes")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ProviderInvalid(f"{what} is larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
