"""The set of issuers a D-TA trusts: routes each token to its issuer's verifier by ``iss``.

``iss`` is read unverified only to choose the verifier; that verifier then checks it exactly.
App subjects are bare client ids, so at most one issuer may authenticate apps: two issuers could
otherwise register the same client id and obtain the same share.
"""

from __future__ import annotations

from typing import Iterable

from dta.oidc.errors import OidcError, TokenInvalid
from dta.oidc.text import printable
from dta.oidc.verifier import ACCESS, TokenVerifier, VerifiedToken, log_refusal, peek


class TrustedIssuers:
    def __init__(self, verifiers: Iterable[TokenVerifier]):
        self._by_issuer: dict[str, TokenVerifier] = {}
        for verifier in verifiers:
            if verifier.issuer in self._by_issuer:
                raise OidcError(f"issuer {printable(verifier.issuer)} is configured twice")
            self._by_issuer[verifier.issuer] = verifier
        apps = [v.issuer for v in self._by_issuer.values() if v.accept_apps]
        if len(apps) > 1:
            raise OidcError("only one issuer may authenticate apps (client ids are not "
                            f"issuer-qualified); these all do: {', '.join(apps)}")
        if not self._by_issuer:
            raise OidcError("at least one trusted issuer is needed")

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._by_issuer)

    def verifier(self, issuer: str) -> TokenVerifier:
        return self._by_issuer[issuer]

    def verify_access_token(self, token: str) -> VerifiedToken:
        """The access token verified by its issuer's verifier; unknown-issuer if none."""
        iss = peek(token)[1].get("iss")
        verifier = self._by_issuer.get(iss) if isinstance(iss, str) else None
        if verifier is None:
            exc = TokenInvalid("unknown-issuer", f"iss {printable(iss)} is not a trusted issuer")
            log_refusal(ACCESS, token, exc)
            raise exc
        return verifier.verify_access_token(token)
