# The Bitcoin networks a D-TA can anchor on, for host and device. Always passed explicitly:
# there is no process-wide "selected network".
#
# pow_limit is the easiest target a header may have on that network (Core's consensus.powLimit):
# a header check against mainnet must refuse a regtest-difficulty header even though its hash
# meets its own nBits. min_difficulty: testnet's rule that a block 20 minutes after its parent
# may have the pow_limit target at any height (Core's fPowAllowMinDifficultyBlocks).

from collections import namedtuple

Network = namedtuple("Network", ("name", "code", "pow_limit", "min_difficulty", "default_k",
                                 "bech32_hrp"))

# nBits 0x1d00ffff (difficulty 1)
_LIMIT_MAIN = 0x00000000FFFF0000000000000000000000000000000000000000000000000000
# nBits 0x1e0377ae (BIP 325 signet)
_LIMIT_SIGNET = 0x00000377AE000000000000000000000000000000000000000000000000000000
# nBits 0x207fffff
_LIMIT_REGTEST = 0x7FFFFF0000000000000000000000000000000000000000000000000000000000

# code: the byte stored in the Birth Record. default_k: confirmations before an anchor counts
# as final. bech32_hrp: Bitcoin Core's segwit address prefix.
MAINNET = Network("mainnet", 0, _LIMIT_MAIN, False, 6, "bc")
TESTNET = Network("testnet", 1, _LIMIT_MAIN, True, 6, "tb")
SIGNET = Network("signet", 2, _LIMIT_SIGNET, False, 6, "tb")
REGTEST = Network("regtest", 3, _LIMIT_REGTEST, False, 1, "bcrt")

NETWORKS = (MAINNET, TESTNET, SIGNET, REGTEST)


def by_name(name):
    # -> Network, or None for a name that is not one of NETWORKS.
    for net in NETWORKS:
        if net.name == name:
            return net
    return None


def by_code(code):
    for net in NETWORKS:
        if net.code == code:
            return net
    return None
