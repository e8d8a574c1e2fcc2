"""The JWKS cache against a provider that rotates its keys, floods of unknown kids, and a
provider that goes away. Fetches are counted on the provider's side (its /jwks requests);
time, where it matters, is a clock the test moves."""

import threading

import pytest

from dta.oidc import (
    HttpClient,
    JwksCache,
    ProviderUnreachable,
    TokenInvalid,
    TokenVerifier,
    client_credentials,
    discover,
)
from dta.oidc.jwks import DEFAULT_TTL, MAX_STALE, MIN_REFRESH_INTERVAL
from tests.fixtures.oidc import APP_CLIENT, RESOURCE, Forge


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def setup(private_oidc_provider):
    http = HttpClient()
    metadata = discover(private_oidc_provider.issuer, http=http)
    clock = Clock()
    jwks = JwksCache(metadata.jwks_uri, http=http, allow_http_loopback=True, clock=clock)
    verifier = TokenVerifier(metadata, audience=RESOURCE, jwks=jwks)
    yield private_oidc_provider, metadata, http, verifier, clock
    http.close()


def app_token(metadata, http):
    return client_credentials(metadata, client_id=APP_CLIENT["client_id"],
                              client_secret=APP_CLIENT["client_secret"], resource=RESOURCE,
                              http=http).access_token


def jwks_requests(provider):
    return provider.stats()["jwks_requests"]


def test_rotation_on_the_provider_is_picked_up(setup):
    provider, metadata, http, verifier, clock = setup
    old_token = app_token(metadata, http)
    assert verifier.verify_access_token(old_token).kid == provider.stats()["kids"][0]
    assert jwks_requests(provider) == 1
    new_kid = provider.rotate()[0]
    new_token = app_token(metadata, http)
    verified = verifier.verify_access_token(new_token)  # unknown kid: one refresh
    assert verified.kid == new_kid and jwks_requests(provider) == 2
    assert verifier.verify_access_token(old_token).subject.kind == "app"  # both published
    assert jwks_requests(provider) == 2


def test_a_retired_key_is_dropped_at_the_next_ttl_refresh(setup):
    provider, metadata, http, verifier, clock = setup
    old_token = app_token(metadata, http)
    verifier.verify_access_token(old_token)
    provider.rotate()
    provider.retire()
    assert verifier.verify_access_token(old_token)  # still cached: within the TTL
    clock.now += DEFAULT_TTL + 1
    with pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(old_token)
    assert refused.value.reason == "unknown-kid"
    assert verifier.verify_access_token(app_token(metadata, http))


def test_no_kid_needs_exactly_one_key(setup):
    provider, metadata, http, verifier, clock = setup
    forge = Forge(provider)
    kid, key = forge.provider_key()
    no_kid = forge.sign(forge.claims(iss=provider.issuer), key=key, kid=None)
    assert verifier.verify_access_token(no_kid).kid is None  # one key published: it is that one
    provider.rotate()
    clock.now += DEFAULT_TTL + 1
    with pytest.raises(TokenInvalid) as refused:
        verifier.verify_access_token(no_kid)
    assert refused.value.reason == "missing-kid"


def test_flood_of_unknown_kids_costs_one_fetch_per_interval(setup):
    provider, metadata, http, verifier, clock = setup
    forge = Forge(provider)
    verifier.verify_access_token(app_token(metadata, http))
    stranger = forge.new_ec_key()
    floods = [[forge.sign(forge.claims(iss=provider.issuer), key=stranger, kid=f"made-up-{t}-{i}")
               for i in range(25)] for t in range(8)]
    reasons = []

    def send(tokens):
        for token in tokens:
            try:
                verifier.verify_access_token(token)
            except TokenInvalid as exc:
                reasons.append(exc.reason)

    threads = [threading.Thread(target=send, args=(tokens,)) for tokens in floods]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reasons == ["unknown-kid"] * 200
    assert jwks_requests(provider) == 2  # the first fetch + one refresh for all 200
    clock.now += MIN_REFRESH_INTERVAL - 1
    send(floods[0][:5])
    assert jwks_requests(provider) == 2
    clock.now += 2  # the interval has passed: one more refresh is allowed
    send(floods[1])
    assert jwks_requests(provider) == 3


def test_cached_keys_outlive_the_provider_and_a_cold_cache_says_unreachable(setup):
    provider, metadata, http, verifier, clock = setup
    token = app_token(metadata, http)
    verifier.verify_access_token(token)
    provider.stop()
    clock.now += DEFAULT_TTL + 1  # due for a refresh, which fails: the cached keys stay
    assert verifier.verify_access_token(token).subject.kind == "app"
    cold = TokenVerifier(metadata, audience=RESOURCE, http=http)
    with pytest.raises(ProviderUnreachable):
        cold.verify_access_token(token)
    clock.now += MAX_STALE  # past the stale limit: the keys are no longer trusted
    with pytest.raises(ProviderUnreachable, match="too old"):
        verifier.verify_access_token(token)
