"""Access-token validations per second on one core, ours against PyJWT alone, in the same run.

    .venv/bin/python -m bench oidc        (from the repo root; ~25 s; needs `make devnet`)

A real provider (npm oidc-provider, devnet/oidc/server.mjs) issues one ES256 client-credentials
access token (RFC 9068, typ at+jwt). Then, on that same token:

  * ours: dta.oidc.TokenVerifier.verify_access_token with the JWKS cached (fetched once before
    timing): shape and header checks, alg allow-list, typ, key lookup by kid, PyJWT's signature
    and claim checks, claim types, Subject.
  * peer: PyJWT alone, jwt.decode with the fixed public key, algorithms=["ES256"], audience,
    issuer and leeway: the least a correct verifier can do with this library.
  * floor: cryptography's ECDSA P-256 verify of the same signature (no parsing, no claims).
  * ours and the peer from THREADS threads at once (one process, one core, the GIL): the
    peer has no lock of ours, so the same drop in both means the GIL, not the JWKS cache.

Each figure is the best of ROUNDS rounds of SECONDS/ROUNDS; the rounds interleave ours and
the peers, so a disturbance on the shared machine hits them alike. Latency
percentiles are of single calls in the single-thread run of ours.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dta.oidc import HttpClient, TokenVerifier, client_credentials, discover
from dta.services.oidc_provider import OidcProvider

RESOURCE = "https://dta-bench.test/"
CLIENT = {"client_id": "bench-app", "client_secret": "bench-secret-" + "x" * 32}
SECONDS = 5.0  # per function measured, split over the rounds
ROUNDS = 5
THREADS = 100  # concurrent callers, as in the share-request target
LATENCY_SAMPLES = 20_000


def _one_round(fn, seconds: float, batch: int = 200) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def rates(fns: list, seconds: float = SECONDS, rounds: int = ROUNDS) -> list[float]:
    """Calls per second of each of ``fns``: rounds interleave them (so a disturbance hits all
    alike) and the best round of each is kept."""
    best = [0.0] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], _one_round(fn, seconds / rounds))
    return best


def threaded_rate(fn, threads=THREADS, per_thread=300) -> float:
    start = threading.Barrier(threads + 1)

    def work():
        start.wait()
        for _ in range(per_thread):
            fn()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    return threads * per_thread / (time.perf_counter() - t0)


def latencies_ms(fn, n=LATENCY_SAMPLES) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[n // 2] * 1e3, samples[int(n * 0.99)] * 1e3


def start_provider(workdir) -> OidcProvider:
    clients = [{**CLIENT, "grant_types": ["client_credentials"], "redirect_uris": [],
                "response_types": [], "id_token_signed_response_alg": "ES256"}]
    return OidcProvider(workdir, clients=clients, users={},
                        resources={RESOURCE: {"scope": "dta:share"}}).start()


def peers(token: str, public_key, issuer: str):
    def pyjwt_alone():
        jwt.decode(token, key=public_key, algorithms=["ES256"], audience=RESOURCE,
                   issuer=issuer, leeway=30)

    signing_input, _, signature_b64 = token.rpartition(".")
    raw = jwt.utils.base64url_decode(signature_b64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    message, algorithm = signing_input.encode(), ec.ECDSA(hashes.SHA256())

    def ecdsa_only():
        public_key.verify(der, message, algorithm)

    return pyjwt_alone, ecdsa_only


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        provider = start_provider(workdir)
        http = HttpClient()
        try:
            metadata = discover(provider.issuer, http=http)
            token = client_credentials(metadata, resource=RESOURCE, http=http,
                                       **CLIENT).access_token
            verifier = TokenVerifier(metadata, audience=RESOURCE, http=http)
            verified = verifier.verify_access_token(token)  # fetches and caches the JWKS
            public_key = jwt.PyJWK(provider.signing_keys()[0]).key.public_key()
        finally:
            provider.stop()  # every measurement below runs from the cache
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
        report(token, verifier, public_key, metadata.issuer, verified)
        http.close()


def report(token, verifier, public_key, issuer, verified) -> None:
    def ours():
        verifier.verify_access_token(token)

    pyjwt_alone, ecdsa_only = peers(token, public_key, issuer)
    ours_rate, pyjwt_rate, floor_rate = rates([ours, pyjwt_alone, ecdsa_only])
    threaded, threaded_peer = threaded_rate(ours), threaded_rate(pyjwt_alone)
    p50, p99 = latencies_ms(ours)
    print(f"token: {len(token)} chars, {verified.alg}, typ at+jwt, subject {verified.subject}")
    print(f"ours  TokenVerifier.verify_access_token  {ours_rate:9.0f} /s  "
          f"p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    print(f"peer  PyJWT jwt.decode, fixed key        {pyjwt_rate:9.0f} /s  "
          f"ours/peer = {ours_rate / pyjwt_rate:.2f}")
    print(f"floor cryptography ECDSA P-256 verify    {floor_rate:9.0f} /s  "
          f"ours/floor = {ours_rate / floor_rate:.2f}")
    print(f"ours from {THREADS} threads (one core, GIL) {threaded:9.0f} /s  "
          f"threads/single = {threaded / ours_rate:.2f}")
    print(f"peer from {THREADS} threads (one core, GIL) {threaded_peer:9.0f} /s  "
          f"threads/single = {threaded_peer / pyjwt_rate:.2f}  ours/peer = "
          f"{threaded / threaded_peer:.2f}")
    print(f"JWKS fetches during the run: {verifier.jwks.fetches} (provider stopped before "
          "timing: every validation used the cache)")
