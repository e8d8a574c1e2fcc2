"""Replies of a Bitcoin node, as garbage as a broken or hostile node can make them, from a tiny
HTTP server on 127.0.0.1 (a legitimate stand-in for a node: the client's own socket, HTTP and
JSON layers run for real). dta.anchor.rpc.RpcClient must raise only dta.errors types (a
NodeUnreachable, an RpcError, a ChainError) or return the reply's result; Node's queries must
return the type they promise or raise the same.

host/dta/anchor/rpc.py belongs to the anchoring work, which hardened it (strict replies,
dta.anchor.replies); these properties hold against that work.
"""

from __future__ import annotations

import json
import socketserver
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dta.anchor.rpc import Node, RpcClient
from dta.errors import DtaError
from dtacore import network as networks
from tests.fuzz import support

TXID = "ab" * 32
REPLIES = [json.dumps(r).encode() for r in (
    {"result": 840000, "error": None, "id": 1},
    {"result": "00" * 32, "error": None, "id": 1},
    {"result": "00" * 80, "error": None, "id": 1},
    {"result": None, "error": {"code": -5, "message": "No such transaction"}, "id": 1},
    {"result": {"chain": "regtest", "blocks": 5, "subversion": "/Satoshi:27.0.0/"},
     "error": None, "id": 1},
    {"result": {"txid": TXID, "blockhash": "00" * 32, "confirmations": 3}, "error": None,
     "id": 1},
    {"result": {"feerate": 0.0001, "blocks": 6}, "error": None, "id": 1},
    {"result": [TXID], "error": None, "id": 1})]
STATUS = [b"200 OK", b"401 Unauthorized", b"404 Not Found", b"500 Internal Server Error",
          b"502 Bad Gateway", b"999 What", b"abc", b""]


@st.composite
def http_replies(draw) -> bytes:
    body = draw(st.one_of(support.json_inputs(REPLIES), st.sampled_from(REPLIES)))
    status = draw(st.one_of(st.just(STATUS[0]), st.sampled_from(STATUS)))
    length = draw(st.sampled_from([len(body), None, 0, len(body) + 10, max(len(body) - 3, 0),
                                   -1, 2**64]))
    head = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
    if draw(st.integers(0, 9)) == 0:
        head += b"Transfer-Encoding: chunked\r\n"
        body = draw(st.sampled_from([b"zz\r\n", b"5\r\nabc", b"0\r\n\r\n", b"ffffffff\r\nx"]))
    elif length is not None:
        head += b"Content-Length: %d\r\n" % length
    raw = head + b"Connection: close\r\n\r\n" + body
    if draw(st.integers(0, 9)) == 0:
        raw = draw(support.mutated([raw], 20))
    return raw


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        length = 0
        while True:
            line = self.rfile.readline(65537)
            if not line or line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        self.rfile.read(length)
        self.wfile.write(self.server.reply)


class FakeNode(socketserver.ThreadingTCPServer):
    """Answers every request with `reply`, byte for byte, then closes the connection."""

    daemon_threads = True
    allow_reuse_address = True
    reply = b""


@pytest.fixture(scope="module")
def node_url():
    server = FakeNode(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://user:pass@127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@support.fuzz_settings(0.3)
@given(reply=http_replies())
def test_rpc_client_on_garbage_replies(node_url, reply):
    server, url = node_url
    server.reply = reply
    try:
        RpcClient(url, timeout=5).call("getblockcount")
    except DtaError:
        support.tally("rpc reply", False)
        return
    support.tally("rpc reply", True)


def _is_hex(value, n) -> bool:
    return isinstance(value, str) and len(value) == n and all(c in "0123456789abcdef"
                                                                for c in value)


QUERIES = {
    "height": (lambda n: n.height(), lambda v: type(v) is int and v >= 0),
    "block_hash": (lambda n: n.block_hash(1), lambda v: _is_hex(v, 64)),
    "header_hex": (lambda n: n.header_hex("00" * 32), lambda v: _is_hex(v, 160)),
    "network": (lambda n: n.network(), lambda v: networks.by_name(v) is not None),
    "confirmations": (lambda n: n.confirmations(TXID),
                      lambda v: type(v[0]) is int and (v[1] is None or _is_hex(v[1], 64))),
    "in_mempool": (lambda n: n.in_mempool(TXID), lambda v: type(v) is bool),
    "fee_rate": (lambda n: n.fee_rate(6), lambda v: v is None or (type(v) is int and v > 0)),
    "tx": (lambda n: n.tx(TXID), lambda v: v is None or isinstance(v, dict)),
}


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_node_queries_on_garbage_replies(node_url, query):
    server, url = node_url
    ask, typed = QUERIES[query]

    @support.fuzz_settings(0.1)
    @given(reply=http_replies())
    def run(reply):
        server.reply = reply
        node = Node(RpcClient(url, timeout=5))
        node._flavor = "core"
        try:
            value = ask(node)
        except DtaError:
            support.tally(f"node.{query}", False)
            return
        support.tally(f"node.{query}", True)
        assert typed(value), f"{query} returned {value!r:.200}"

    run()
