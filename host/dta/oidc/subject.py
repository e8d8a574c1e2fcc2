"""Who a verified token speaks for: the subject a D-TA derives a share for and logs.

* A person is ``issuer + " " + sub`` (OIDC Core: sub is unique only within its issuer).
* An app is the ``client_id`` of a client-credentials access token (RFC 9068: sub is then the
  client's own identifier). Client ids are not issuer-qualified, so only one trusted issuer may
  authenticate apps (dta.oidc.issuers.TrustedIssuers enforces it).

A person's name always contains a space and an app's never does (client ids with spaces are
refused), so the two kinds can never produce the same subject bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dta.oidc.errors import TokenInvalid
from dta.oidc.text import printable
from dtacore.entries import MAX_SUBJECT

PERSON = "person"
APP = "app"
# OIDC Core section 2: sub "MUST NOT exceed 255 ASCII characters in length".
MAX_SUB = 255
# RFC 6749 sets no bound on client ids; 255 matches sub and keeps every subject <= MAX_SUBJECT.
MAX_CLIENT_ID = 255


def _check(value: object, what: str, limit: int, *, space_ok: bool) -> str:
    low = 0x20 if space_ok else 0x21
    if (not isinstance(value, str) or not 0 < len(value) <= limit
            or any(not low <= ord(c) <= 0x7E for c in value)):
        raise TokenInvalid("bad-subject", f"{what} must be 1..{limit} printable ASCII characters"
                                          f"{'' if space_ok else ' without spaces'}: "
                                          f"{printable(value)}")
    return value


@dataclass(frozen=True)
class Subject:
    """``kind`` is PERSON or APP; ``id`` is the sub (person) or the client id (app)."""

    kind: str
    issuer: str
    id: str

    @classmethod
    def person(cls, issuer: str, sub: object) -> "Subject":
        return cls._bounded(cls(PERSON, issuer, _check(sub, "sub", MAX_SUB, space_ok=True)))

    @classmethod
    def app(cls, issuer: str, client_id: object) -> "Subject":
        checked = _check(client_id, "client_id", MAX_CLIENT_ID, space_ok=False)
        return cls._bounded(cls(APP, issuer, checked))

    @staticmethod
    def _bounded(subject: "Subject") -> "Subject":
        if len(subject.encode()) > MAX_SUBJECT:
            raise TokenInvalid("bad-subject", f"subject longer than the log's limit of "
                                              f"{MAX_SUBJECT} bytes")
        return subject

    @property
    def name(self) -> str:
        """The subject's canonical text: ``issuer sub`` for a person, the client id for an app."""
        return f"{self.issuer} {self.id}" if self.kind == PERSON else self.id

    def encode(self) -> bytes:
        """The bytes a share is derived for and the log records (ASCII, <= MAX_SUBJECT)."""
        return self.name.encode("ascii")

    def __str__(self) -> str:
        return f"{self.kind} {printable(self.name, MAX_SUBJECT)}"
