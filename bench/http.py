"""Authenticated share requests per second on one D-TA over HTTP, against the same server
answering a static route (the stack's floor), measured in the same run.

    .venv/bin/python -m bench http        (from the repo root; ~1 min; needs `make devnet`)

Set-up: a real provider (npm oidc-provider) with CLIENTS client-credentials apps, one ES256
access token each for the bench D-TA's audience; one D-TA (dta.http.HttpAuthority: the
issuance core, its SQLite log with synchronous=FULL, the API on uvicorn) on loopback.

Load: a second process (the machine has two cores: one serves, one loads) keeps CLIENTS
keep-alive connections busy, each sending one request at a time:

  * share: POST /shares with its app's bearer token and an epoch never asked before, so every
    request is the whole path: JWT validation with the JWKS cached, derivation, a ShareIssued
    entry appended and durable (group commit, fsync), a checkpoint covering it, the signed
    statement, the receipt, the JSON answer;
  * floor: POST /bench/floor, the same body, handled the way /shares is (the body read, then a
    function on the thread pool returning a small JSON document) but doing nothing else.

Phases: floor and share saturated (closed loop: the next request as soon as the answer is in),
then share paced at TARGET_RATE and at half the saturated rate offered (each client on a fixed
schedule; latency counted from the scheduled send, so falling behind is charged). Each phase runs
WARMUP seconds untimed, then SECONDS timed; throughput is answers in the timed window, latency
per request as the client sees it, server CPU is this process's (the server's) CPU time over the
requests it answered. Targets (issue 13): >= 1,000 share requests/s, p99 <= 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

CLIENTS = 100
TARGET_RATE = 1000
WARMUP = 3.0
SECONDS = 10.0
AUDIENCE = "https://dta-bench.test/"
PASSPHRASE = "bench"


def _request(path: str, token: str, epoch: int, port: int) -> bytes:
    body = json.dumps({"epoch": epoch}).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _read_response(reader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _client(i, path, token, port, t_start, t_end, interval, out):
    """One connection, one request at a time. interval None: the next as soon as the answer
    is in (closed loop: saturation); else one every ``interval`` s from a fixed schedule,
    latency counted from the scheduled send (no coordinated omission: a late answer delays
    the next send and that wait counts)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n, due = 0, time.perf_counter() + (interval or 0) * (i % 100) / 100
    try:
        while True:
            epoch = (i << 20) | n  # never asked before: a new entry each time
            n += 1
            if interval is not None:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t0 = due if interval is not None else time.perf_counter()
            if t0 >= t_end:
                return
            writer.write(_request(path, token, epoch, port))
            status = await _read_response(reader)
            t1 = time.perf_counter()
            out["all"] += 1
            if status != 200:
                out["errors"] += 1
            elif t0 >= t_start:
                out["lat"].append(t1 - t0)
            if t_start <= t1 < t_end:
                out["done"] += 1  # answers in the timed window: the throughput
            if interval is not None:
                due += interval
    finally:
        writer.close()


def _load(path, tokens, port, warmup, seconds, interval, queue, base_epoch):
    async def main():
        now = time.perf_counter()
        out = {"lat": [], "errors": 0, "all": 0, "done": 0}
        await asyncio.gather(*(_client(base_epoch + i, path, t, port, now + warmup,
                                       now + warmup + seconds, interval, out)
                               for i, t in enumerate(tokens)))
        return out
    queue.put(asyncio.run(main()))


def run_phase(path: str, tokens: list[str], port: int, base_epoch: int,
              rate: float | None = None) -> dict:
    """One phase, load from a separate process: throughput, latency percentiles and the
    server's CPU time per request (this process is the server)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    interval = None if rate is None else len(tokens) / rate
    proc = ctx.Process(target=_load, args=(path, tokens, port, WARMUP, SECONDS, interval,
                                           queue, base_epoch))
    cpu0 = sum(os.times()[:2])
    proc.start()
    out = queue.get()
    cpu = sum(os.times()[:2]) - cpu0
    proc.join()
    lat = sorted(out["lat"])
    return {"rate": out["done"] / SECONDS, "n": len(lat), "errors": out["errors"],
            "p50": statistics.median(lat) * 1000, "p99": lat[int(len(lat) * 0.99)] * 1000,
            "max": lat[-1] * 1000, "cpu_ms": cpu / max(out["all"], 1) * 1000}


def _floor_route(app) -> None:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    async def floor(request):
        body = await request.body()
        doc = await run_in_threadpool(lambda: {"format": "floor", "length": len(body)})
        return JSONResponse(doc, headers={"Cache-Control": "no-store"})

    app.add_route("/bench/floor", floor, methods=["POST"])


def _provider(workdir: Path):
    from dta.services.oidc_provider import OidcProvider
    clients = [{"client_id": f"bench-{i}", "client_secret": f"bench-{i}-secret-" + "x" * 32,
                "grant_types": ["client_credentials"], "redirect_uris": [],
                "response_types": [], "id_token_signed_response_alg": "ES256"}
               for i in range(CLIENTS)]
    return OidcProvider(workdir, clients=clients, users={},
                        resources={AUDIENCE: {"scope": "dta:share"}}), clients


def _dta(root: Path, issuer: str):
    from dta.authority import identity
    from dta.config import Config
    from dta.http import HttpAuthority, HttpSettings, Rate, trusted_issuers
    from dta.issuance.settings import IssuanceSettings
    cfg = Config(data_dir=root / "dta")
    identity.initialise(cfg.data_dir, PASSPHRASE, name="bench", network="regtest", log2_n=10)
    unlimited = Rate(per_minute=10_000_000, burst=10_000_000)
    http = HttpSettings(audience=AUDIENCE, share_rate=unlimited, refusal_log_rate=unlimited,
                        refusal_log_total=unlimited)
    return HttpAuthority(cfg, identity.unlock(cfg.data_dir, PASSPHRASE), listen="127.0.0.1:0",
                         http=http, issuers=trusted_issuers([issuer], audience=AUDIENCE,
                                                            apps_issuer=issuer),
                         settings=IssuanceSettings(shares_per_window=1_000_000,
                                                   anchor_interval=0))


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def main() -> None:
    from dta.oidc import HttpClient, client_credentials, discover
    with tempfile.TemporaryDirectory() as tmp:
        provider, clients = _provider(Path(tmp) / "oidc")
        with provider:
            http = HttpClient()
            metadata = discover(provider.issuer, http=http)
            tokens = [client_credentials(metadata, client_id=c["client_id"],
                                         client_secret=c["client_secret"], resource=AUDIENCE,
                                         http=http).access_token for c in clients]
            http.close()
            dta = _dta(Path(tmp), provider.issuer)
            _floor_route(dta.app)
            with dta:
                port = dta.server.port
                floor = run_phase("/bench/floor", tokens, port, 0)
                share = run_phase("/shares", tokens, port, CLIENTS)
                paced = run_phase("/shares", tokens, port, 2 * CLIENTS, rate=TARGET_RATE)
                half = max(50, int(share["rate"] / 2 / 50) * 50)
                below = run_phase("/shares", tokens, port, 3 * CLIENTS, rate=half)
                store = dta.service.log.store
                entries, cps = store.size, len(store.checkpoints())
    cpu = os.cpu_count()
    import uvicorn.config
    parser = "httptools" if uvicorn.config.HTTP_PROTOCOLS and _has("httptools") else "h11"
    print(f"{CLIENTS} concurrent clients (keep-alive, one request in flight each), "
          f"{SECONDS:g} s timed after {WARMUP:g} s warm-up, load from a second process, "
          f"{cpu} cores, uvicorn's {parser} parser")
    for name, r in (("share, saturated: POST /shares", share),
                    (f"share, paced at {TARGET_RATE} req/s offered", paced),
                    (f"share, paced at {half} req/s offered", below),
                    ("floor, saturated: POST /bench/floor", floor)):
        print(f"{name:<42} {r['rate']:7.0f} req/s  p50 {r['p50']:7.1f} ms  p99 "
              f"{r['p99']:7.1f} ms  max {r['max']:7.1f} ms  server CPU {r['cpu_ms']:.2f} ms/req"
              f"  errors {r['errors']}")
    print(f"share / floor: throughput {share['rate'] / floor['rate']:.2f}x, server CPU per "
          f"request {share['cpu_ms'] / floor['cpu_ms']:.1f}x; the log took {entries} entries in "
          f"{cps} checkpoints ({entries / max(cps, 1):.1f} per checkpoint, one fsync each and "
          "one per group commit)")
    kept_up = paced["p99"] <= 50 and paced["rate"] >= 0.98 * TARGET_RATE
    print(f"targets: >= {TARGET_RATE} req/s saturated: "
          f"{'met' if share['rate'] >= TARGET_RATE else 'NOT met'}; p99 <= 50 ms at "
          f"{TARGET_RATE} req/s offered: {'met' if kept_up else 'NOT met'}")


if __name__ == "__main__":
    main()
