"""The pre-issuance policy hook fails closed (an exception, a non-bool answer, a missing command,
an unknown exit status all refuse, with a reason), and issuance settings are checked once."""

import sys

import pytest

from dta.errors import ConfigError
from dta.issuance import CallablePolicy, CommandPolicy, IssuanceSettings, PolicyRequest

REQ = PolicyRequest(bytes(32), bytes(8), 1, b"\x02" + bytes(32), "unit")


def test_a_callable_hook_fails_closed():
    def boom(req):
        raise RuntimeError("database down")

    assert CallablePolicy(lambda r: True).check(REQ).allow
    assert CallablePolicy(lambda r: (True, "fine")).check(REQ).reason == "fine"
    v = CallablePolicy(boom).check(REQ)
    assert not v.allow and "RuntimeError: database down" in v.reason
    v = CallablePolicy(lambda r: "yes").check(REQ)
    assert not v.allow and "not a bool" in v.reason
    v = CallablePolicy(lambda r: (False, "\x1b[31mred\nlines")).check(REQ)
    assert not v.allow and "\x1b" not in v.reason and "\n" not in v.reason


def test_a_command_hook_fails_closed(tmp_path):
    v = CommandPolicy([str(tmp_path / "missing")]).check(REQ)
    assert not v.allow and "did not start" in v.reason
    v = CommandPolicy([sys.executable, "-c", "import sys; sys.exit(3)"]).check(REQ)
    assert not v.allow and "exit status 3" in v.reason
    v = CommandPolicy([sys.executable, "-c", "import sys, json; r = json.load(sys.stdin); "
                       "print('epoch', r['epoch'], r['board'])"]).check(REQ)
    assert v.allow and v.reason == "epoch 1 unit"


def test_hooks_and_settings_are_checked_once():
    for bad in (0, -1, 61):
        with pytest.raises(ConfigError):
            CallablePolicy(lambda r: True, timeout=bad)
    with pytest.raises(ConfigError):
        CommandPolicy([])
    with pytest.raises(ConfigError):
        CallablePolicy("not callable")
    for field, value in (("credential_id", 0xF0), ("ticket_uses", 0), ("ticket_uses", 256),
                         ("shares_per_window", 0), ("workers", 0), ("voucher_lifetime", True),
                         ("anchor_interval", -1), ("policy", object())):
        with pytest.raises(ConfigError, match=field):
            IssuanceSettings(**{field: value})
