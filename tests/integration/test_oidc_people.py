"""People log in against the real provider; the test is the person at the browser.

The device flow's waits between polls are the moments the person acts: the test's ``sleep``
records the interval asked for and, at the chosen poll, approves (or refuses) the user code on
the provider's own pages. Nothing waits on real time.
"""

import pytest

from dta.oidc import PERSON, CodeLogin, DeviceLogin, LoginFailed, TokenVerifier, refresh
from tests.fixtures.oidc import CLI_CLIENT_ID, OTHER_RESOURCE, RESOURCE, USERS


class Person:
    """The ``sleep`` of a DeviceLogin: on poll number ``act_at`` the person signs in."""

    def __init__(self, browser, login="alice", *, act_at=1, refuse=False):
        self.browser, self.login, self.act_at, self.refuse = browser, login, act_at, refuse
        self.waits: list[float] = []
        self.authorization = None
        self.last_page = None

    def __call__(self, seconds):
        self.waits.append(seconds)
        if len(self.waits) == self.act_at:
            self.last_page = self.browser.sign_in(
                self.authorization.verification_uri_complete, self.login,
                USERS[self.login]["password"], refuse=self.refuse)


def device_login(metadata, http, person, **kwargs):
    login = DeviceLogin(metadata, client_id=CLI_CLIENT_ID, http=http, sleep=person, **kwargs)
    person.authorization = login.start(resources=(RESOURCE, OTHER_RESOURCE))
    return login, person.authorization


def test_device_login_end_to_end_gives_the_person_subject(oidc_metadata, oidc_http, browser,
                                                          oidc_provider):
    person = Person(browser)
    login, authorization = device_login(oidc_metadata, oidc_http, person)
    assert authorization.interval == 5 and len(authorization.user_code) == 9  # XXXX-XXXX
    result = login.wait(authorization, resource=RESOURCE)
    assert person.waits == [5]  # one interval, then the approved poll
    assert "Signed in" in person.last_page.text
    assert result.subject.kind == PERSON
    assert result.subject.name == f"{oidc_provider.issuer} alice"
    assert result.subject.encode() == f"{oidc_provider.issuer} alice".encode()
    # The access token is for the D-TA named by the resource, and names the same person.
    verified = TokenVerifier(oidc_metadata, audience=RESOURCE,
                             http=oidc_http).verify_access_token(result.tokens.access_token)
    assert verified.subject == result.subject
    assert verified.claims["client_id"] == CLI_CLIENT_ID


def test_one_login_refreshes_into_a_token_for_another_dta(oidc_metadata, oidc_http, browser):
    person = Person(browser, "bob")
    login, authorization = device_login(oidc_metadata, oidc_http, person)
    result = login.wait(authorization, resource=RESOURCE)
    assert result.tokens.refresh_token is not None
    other = refresh(oidc_metadata, result.tokens, resource=OTHER_RESOURCE, http=oidc_http)
    verified = TokenVerifier(oidc_metadata, audience=OTHER_RESOURCE,
                             http=oidc_http).verify_access_token(other.access_token)
    assert verified.subject == result.subject and verified.claims["aud"] == OTHER_RESOURCE


def test_pending_polls_continue_until_the_person_approves(oidc_metadata, oidc_http, browser):
    person = Person(browser, act_at=3)
    login, authorization = device_login(oidc_metadata, oidc_http, person)
    result = login.wait(authorization, resource=RESOURCE)
    assert person.waits == [5, 5, 5]  # two authorization_pending answers, then the tokens
    assert result.subject.id == "alice"


def test_slow_down_adds_five_seconds_for_good(oidc_metadata, oidc_http, browser, oidc_provider):
    person = Person(browser, act_at=3)
    login, authorization = device_login(oidc_metadata, oidc_http, person)
    oidc_provider.arm_token_errors(["slow_down"])
    login.wait(authorization, resource=RESOURCE)
    assert person.waits == [5, 10, 10]


def test_person_refusing_ends_the_login_as_access_denied(oidc_metadata, oidc_http, browser):
    person = Person(browser, refuse=True)
    login, authorization = device_login(oidc_metadata, oidc_http, person)
    with pytest.raises(LoginFailed) as failed:
        login.wait(authorization, resource=RESOURCE)
    assert failed.value.reason == "access-denied"


def test_expired_token_answer_ends_the_login(oidc_metadata, oidc_http, browser, oidc_provider):
    person = Person(browser, act_at=99)
    login, authorization = device_login(oidc_metadata, oidc_http, person)
    oidc_provider.arm_token_errors(["expired_token"])
    with pytest.raises(LoginFailed) as failed:
        login.wait(authorization)
    assert failed.value.reason == "expired" and person.waits == [5]


def test_code_expiry_is_checked_locally_before_polling(oidc_metadata, oidc_http, browser):
    now = [0.0]
    person = Person(browser, act_at=99)

    def sleep(seconds):  # time passes only when the login waits
        person(seconds)
        now[0] += 120

    login, authorization = device_login(oidc_metadata, oidc_http, person, clock=lambda: now[0])
    login._sleep = sleep
    with pytest.raises(LoginFailed) as failed:
        login.wait(authorization)
    assert failed.value.reason == "expired"
    assert len(person.waits) == authorization.expires_in // 120  # 600 s code: 5 polls


def test_code_flow_with_pkce_on_loopback(oidc_metadata, oidc_http, browser, oidc_provider):
    with CodeLogin(oidc_metadata, client_id=CLI_CLIENT_ID, resources=(RESOURCE,),
                   http=oidc_http) as login:
        assert login.redirect.redirect_uri.startswith("http://127.0.0.1:")
        # A stray callback with another state is refused and does not end the login.
        stray = browser.client.get(login.redirect.redirect_uri,
                                   params={"code": "stolen", "state": "not-ours"})
        assert stray.status_code == 400 and login.redirect.refused == 1
        page = browser.sign_in(login.authorization_url, "bob", USERS["bob"]["password"])
        assert page.status_code == 200 and "Login received" in page.text
        result = login.wait(timeout=10, resource=RESOURCE)
    assert result.subject.name == f"{oidc_provider.issuer} bob"
    assert result.id_token.claims["nonce"] == login.nonce
    verified = TokenVerifier(oidc_metadata, audience=RESOURCE,
                             http=oidc_http).verify_access_token(result.tokens.access_token)
    assert verified.subject == result.subject


def test_code_flow_denied_by_the_person(oidc_metadata, oidc_http, browser):
    with CodeLogin(oidc_metadata, client_id=CLI_CLIENT_ID, http=oidc_http) as login:
        browser.sign_in(login.authorization_url, "alice", USERS["alice"]["password"],
                        refuse=True)
        with pytest.raises(LoginFailed) as failed:
            login.wait(timeout=10)
    assert failed.value.reason == "access-denied"


def test_code_flow_wrong_password_never_reaches_the_callback(oidc_metadata, oidc_http, browser):
    with CodeLogin(oidc_metadata, client_id=CLI_CLIENT_ID, http=oidc_http) as login:
        page = browser.sign_in(login.authorization_url, "alice", "wrong password")
        assert page.status_code == 403
        with pytest.raises(LoginFailed) as failed:
            login.wait(timeout=0.2)
    assert failed.value.reason == "timeout"


def test_code_flow_refuses_a_callback_from_another_issuer(oidc_metadata, oidc_http, browser):
    with CodeLogin(oidc_metadata, client_id=CLI_CLIENT_ID, http=oidc_http) as login:
        browser.client.get(login.redirect.redirect_uri, params={
            "code": "x", "state": login.state, "iss": "https://mix-up.test"})
        with pytest.raises(LoginFailed) as failed:
            login.wait(timeout=10)
    assert failed.value.reason == "issuer-mismatch"
