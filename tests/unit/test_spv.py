"""dtacore.spv on known Bitcoin data: the mainnet genesis header, nBits decoding against
python-bitcoinlib, simple merkle branches, transaction parsing."""

import hashlib

import pytest
from bitcoin.core.serialize import uint256_from_compact

from dtacore import anchor, bitcoin, spv
from dtacore import network as networks
from dtacore.errors import DecodeError, VerifyError

GENESIS = bytes.fromhex(
    "01000000" + "00" * 32
    + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a"
    + "29ab5f49" + "ffff001d" + "1dac2b7c")
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


MAIN = networks.MAINNET.pow_limit
REGTEST_BITS = 0x207FFFFF


def test_genesis_header_hash_and_pow():
    assert bitcoin.reverse(spv.header_hash(GENESIS)).hex() == GENESIS_HASH
    assert spv.check_pow(GENESIS, MAIN) == spv.header_hash(GENESIS)
    tampered = GENESIS[:76] + b"\x00\x00\x00\x00"
    with pytest.raises(VerifyError, match="proof of work"):
        spv.check_pow(tampered, MAIN)


def mine(prev: bytes, bits: int, time: int, tag: int = 0) -> bytes:
    """A header on `prev` whose hash meets nBits `bits` (cheap for regtest-like targets)."""
    target = spv.target_from_bits(bits)
    for nonce in range(1 << 20):
        h = (b"\x01\x00\x00\x00" + spv.header_hash(prev) + bytes([tag]) * 32
             + time.to_bytes(4, "little") + bits.to_bytes(4, "little")
             + nonce.to_bytes(4, "little"))
        if int.from_bytes(spv.header_hash(h), "little") <= target:
            return h
    raise AssertionError("no nonce found")


def test_a_header_easier_than_the_network_allows_is_refused():
    # Its hash meets its own nBits, but regtest's target is far above mainnet's limit.
    easy = mine(GENESIS, REGTEST_BITS, 1231006600)
    assert spv.check_pow(easy, networks.REGTEST.pow_limit)
    for net in (networks.MAINNET, networks.TESTNET, networks.SIGNET):
        with pytest.raises(VerifyError, match="easier than the network allows"):
            spv.check_pow(easy, net.pow_limit)
    child = mine(easy, REGTEST_BITS, 1231006700)
    assert spv.verify_chain(easy, child, 1, networks.REGTEST) == spv.header_hash(child)
    with pytest.raises(VerifyError, match="easier"):  # a regtest chain offered as mainnet's
        spv.verify_chain(easy, child, 1, networks.MAINNET)


# A testnet-like network whose limit a test can mine: regtest's target with testnet's rule.
TESTLIKE = networks.Network("testlike", 99, networks.REGTEST.pow_limit, True, 1, "tl")
HARD = 0x1F3FFFFF  # a real difficulty 8x harder than the limit (still cheap to mine)


def test_min_difficulty_blocks_need_the_20_minute_gap():
    cp = mine(GENESIS, HARD, 1000)
    normal = mine(cp, HARD, 1600)
    gap = mine(normal, REGTEST_BITS, 1600 + 1201)  # 20 minutes later: minimum difficulty ok
    back = mine(gap, HARD, 1600 + 1300)  # back to the last real difficulty
    spv.verify_chain(cp, normal + gap + back, 5, TESTLIKE)
    early = mine(normal, REGTEST_BITS, 1600 + 1200)
    with pytest.raises(VerifyError, match="outside a retarget"):
        spv.verify_chain(cp, normal + early, 5, TESTLIKE)
    # without the testnet rule, any change off a retarget height is refused
    no_rule = TESTLIKE._replace(min_difficulty=False)
    with pytest.raises(VerifyError, match="outside a retarget"):
        spv.verify_chain(cp, normal + gap, 5, no_rule)


@pytest.mark.parametrize("bits", [0x1D00FFFF, 0x207FFFFF, 0x1B0404CB, 0x170B8C8B, 0x03123456,
                                  0x02008000, 0x01120000, 0x04123456])
def test_target_from_bits_matches_python_bitcoinlib(bits):
    assert spv.target_from_bits(bits) == uint256_from_compact(bits)


@pytest.mark.parametrize("bits", [0x04923456, 0x00000000, 0x01003456, 0x23000001, 0xFF123456,
                                  0x22010000])
def test_bad_bits_rejected(bits):
    with pytest.raises(VerifyError, match="nBits"):
        spv.target_from_bits(bits)


def test_chain_from_checkpoint_checks_linkage():
    with pytest.raises(DecodeError):
        spv.verify_chain(GENESIS, b"\x00" * 79, 0, networks.MAINNET)
    assert spv.verify_chain(GENESIS, b"", 0, networks.MAINNET) == spv.header_hash(GENESIS)
    child = b"\x01\x00\x00\x00" + b"\x11" * 32 + GENESIS[36:]
    with pytest.raises(VerifyError, match="does not link"):
        spv.verify_chain(GENESIS, child, 0, networks.MAINNET)


def _tree(leaves):
    level, branches = list(leaves), [[] for _ in leaves]
    index = list(range(len(leaves)))
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        for i, pos in enumerate(index):
            branches[i].append(level[pos ^ 1])
            index[i] = pos // 2
        level = [bitcoin.sha256d(level[j] + level[j + 1]) for j in range(0, len(level), 2)]
    return level[0], branches


def test_simple_branch_recomputes_root():
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    root, branches = _tree(leaves)
    for i, leaf in enumerate(leaves):
        assert spv.root_from_branch(leaf, branches[i], i) == root
        if branches[i][0] != leaf:  # the odd last leaf pairs with itself: order cannot matter
            assert spv.root_from_branch(leaf, branches[i], i ^ 1) != root
    with pytest.raises(VerifyError):
        spv.root_from_branch(leaves[0], branches[0], 1 << len(branches[0]))


def test_parse_tx_rejects_trailing_and_truncated():
    from dta.anchor.tx import Outpoint, build_anchor
    from dta.signing import Signer
    t = build_anchor(Signer(b"\x05" * 32), Outpoint("11" * 32, 0, 100000),
                     anchor.encode_birth(b"\x01" * 32), 1000)
    tx = bitcoin.parse_tx(t.raw)
    assert bitcoin.reverse(tx.txid).hex() == t.txid
    assert (tx.inputs[0].vout, tx.inputs[0].sequence) == (0, 0xFFFFFFFD)
    assert anchor.find_payload(tx.outputs) == anchor.encode_birth(b"\x01" * 32)
    assert tx.witness0[1] == Signer(b"\x05" * 32).public_key
    for bad in (t.raw + b"\x00", t.raw[:-1], t.raw[:9]):
        with pytest.raises(DecodeError):
            bitcoin.parse_tx(bad)
