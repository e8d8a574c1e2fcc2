"""OpenID Provider discovery (OpenID Connect Discovery 1.0 section 4, RFC 8414).

The document at ``<issuer>/.well-known/openid-configuration`` is fetched through the bounded
client, and accepted only if its ``issuer`` is exactly the issuer we asked for (section 4.3: this
stops one provider from speaking for another) and every endpoint we may use is https, or loopback
http when the issuer itself is a loopback http URL (the test provider).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from dta.oidc.errors import ProviderInvalid
from dta.oidc.http import HttpClient, check_url, is_loopback_host
from dta.oidc.text import printable

WELL_KNOWN = "/.well-known/openid-configuration"
# Issuer URLs are short (scheme, host, maybe a path); 255 keeps issuer + " " + sub within the
# log's MAX_SUBJECT (512) for any sub of at most 255 characters.
MAX_ISSUER = 255
# A provider lists a handful of algorithms, grant types and methods; 64 entries is far beyond any.
MAX_LIST = 64
# Endpoints the D-TA and `dta login` may call; each optional except jwks_uri and token_endpoint.
_ENDPOINTS = ("jwks_uri", "token_endpoint", "authorization_endpoint",
              "device_authorization_endpoint", "revocation_endpoint")


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a provider's discovery document the D-TA uses."""

    issuer: str
    jwks_uri: str
    token_endpoint: str
    authorization_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ("authorization_code", "implicit")
    # RFC 9207: the provider puts `iss` in authorization responses (a mix-up defence).
    authorization_response_iss_parameter_supported: bool = False

    @property
    def allows_http_loopback(self) -> bool:
        return issuer_allows_http_loopback(self.issuer)


def issuer_allows_http_loopback(issuer: str) -> bool:
    parts = urlsplit(issuer)
    return parts.scheme == "http" and is_loopback_host(parts.hostname or "")


def check_issuer(issuer: object) -> str:
    """An issuer identifier: https (or loopback http), no query or fragment, <= MAX_ISSUER."""
    if (not isinstance(issuer, str) or len(issuer) > MAX_ISSUER
            or any(not 0x21 <= ord(c) <= 0x7E for c in issuer)):
        raise ProviderInvalid(f"issuer must be a URL of at most {MAX_ISSUER} printable ASCII "
                              f"characters: {printable(issuer)}")
    check_url(issuer, "issuer", allow_http_loopback=True)
    if urlsplit(issuer).query:
        raise ProviderInvalid(f"issuer must not have a query: {printable(issuer)}")
    return issuer


def _string_list(doc: dict, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = doc.get(name)
    if value is None:
        return default
    if (not isinstance(value, list) or len(value) > MAX_LIST
            or not all(isinstance(v, str) for v in value)):
        raise ProviderInvalid(f"discovery: {name} must be a list of at most {MAX_LIST} strings")
    return tuple(value)


def parse_metadata(doc: dict, issuer: str) -> ProviderMetadata:
    """Check a discovery document fetched for ``issuer`` and keep what we use."""
    if doc.get("issuer") != issuer:
        raise ProviderInvalid(f"discovery: the document's issuer {printable(doc.get('issuer'))} "
                              f"is not {printable(issuer)}, the issuer it was fetched for")
    allow_http = issuer_allows_http_loopback(issuer)
    endpoints = {}
    for name in _ENDPOINTS:
        if doc.get(name) is not None or name in ("jwks_uri", "token_endpoint"):
            endpoints[name] = check_url(doc.get(name), f"discovery: {name}",
                                        allow_http_loopback=allow_http)
    iss_param = doc.get("authorization_response_iss_parameter_supported", False)
    if not isinstance(iss_param, bool):
        raise ProviderInvalid("discovery: authorization_response_iss_parameter_supported must "
                              "be a boolean")
    return ProviderMetadata(
        issuer=issuer, **endpoints,
        id_token_signing_alg_values_supported=_string_list(
            doc, "id_token_signing_alg_values_supported"),
        code_challenge_methods_supported=_string_list(doc, "code_challenge_methods_supported"),
        grant_types_supported=_string_list(doc, "grant_types_supported",
                                           ("authorization_code", "implicit")),
        authorization_response_iss_parameter_supported=iss_param)


def discover(issuer: str, *, http: HttpClient | None = None) -> ProviderMetadata:
    """Fetch and check ``issuer``'s discovery document. ProviderUnreachable if it cannot be
    fetched, ProviderInvalid if it breaks a rule."""
    check_issuer(issuer)
    client = http or HttpClient()
    try:
        doc = client.get_json(issuer.rstrip("/") + WELL_KNOWN, "discovery document")
    finally:
        if http is None:
            client.close()
    return parse_metadata(doc, issuer)
