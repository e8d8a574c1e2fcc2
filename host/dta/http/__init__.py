"""The D-TA's HTTP API (docs/http.md): /.well-known/dta, checkpoints, proofs, receipts, the
seal chain, share requests with a bearer token (RFC 9457 problems when refused), and the status
page.

* ``create_app(HttpContext)`` -> a Starlette app; ``HttpServer(app, "HOST:PORT")`` serves it
  (uvicorn on a thread; TLS with a certificate, or behind a reverse proxy).
* ``api_context(service, secrets, HttpSettings, TrustedIssuers)`` for a running
  dta.issuance.service.AuthorityService; ``HttpAuthority`` for an HTTP-only D-TA.
"""

from dta.http.app import create_app
from dta.http.context import HttpContext, HttpSettings
from dta.http.problems import Problem
from dta.http.ratelimit import Rate
from dta.http.runner import HttpAuthority, api_context, trusted_issuers
from dta.http.server import HttpServer, parse_listen

__all__ = ["HttpAuthority", "HttpContext", "HttpServer", "HttpSettings", "Problem", "Rate",
           "api_context", "create_app", "parse_listen", "trusted_issuers"]
