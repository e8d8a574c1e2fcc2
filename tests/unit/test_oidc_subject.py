"""Subjects: the names shares are derived for, within the log's limits, never ambiguous."""

import pytest

from dta.oidc import APP, PERSON, Subject, TokenInvalid
from dta.oidc.subject import MAX_SUB
from dtacore.entries import MAX_SUBJECT

ISSUER = "https://idp.example.test"


def test_person_is_issuer_space_sub():
    s = Subject.person(ISSUER, "248289761001")
    assert (s.kind, s.name) == (PERSON, "https://idp.example.test 248289761001")
    assert s.encode() == b"https://idp.example.test 248289761001"


def test_app_is_its_client_id():
    s = Subject.app(ISSUER, "billing-service")
    assert (s.kind, s.name, s.encode()) == (APP, "billing-service", b"billing-service")


def test_person_and_app_never_share_a_name():
    # A client id can never contain the space every person's name has.
    with pytest.raises(TokenInvalid) as refused:
        Subject.app(ISSUER, "https://idp.example.test 248289761001")
    assert refused.value.reason == "bad-subject"


@pytest.mark.parametrize("sub", ["", "x" * (MAX_SUB + 1), "alice\n", "\x1b[2J", "ålice", 42,
                                 None, ["alice"]])
def test_bad_subs_are_refused(sub):
    with pytest.raises(TokenInvalid) as refused:
        Subject.person(ISSUER, sub)
    assert refused.value.reason == "bad-subject"


def test_longest_subject_fits_the_log():
    issuer = "https://" + "i" * 247  # 255 characters, the issuer limit
    s = Subject.person(issuer, "s" * MAX_SUB)
    assert len(s.encode()) == 255 + 1 + MAX_SUB <= MAX_SUBJECT


def test_subject_over_the_log_limit_is_refused():
    with pytest.raises(TokenInvalid, match="log's limit"):
        Subject.person("https://" + "i" * 400, "s" * MAX_SUB)


def test_str_escapes():
    assert str(Subject.person(ISSUER, "a b")) == "person https://idp.example.test a b"
