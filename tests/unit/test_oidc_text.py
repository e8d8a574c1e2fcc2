"""Attacker-controlled text is cut and escaped before it reaches a log or a terminal."""

from dta.oidc.text import MAX_PRINTED, printable


def test_plain_text_is_unchanged():
    assert printable("https://idp.example.test") == "https://idp.example.test"


def test_control_and_escape_sequences_are_escaped():
    assert printable("a\nb\x1b[31mc\x00") == "a\\nb\\x1b[31mc\\x00"


def test_non_ascii_is_escaped():
    assert printable("ｐaypal\u202e") == "\\uff50aypal\\u202e"


def test_long_values_are_cut_and_say_so():
    shown = printable("x" * (MAX_PRINTED + 50))
    assert shown == "x" * MAX_PRINTED + "...(+50 chars)"


def test_non_strings_show_only_their_type():
    assert printable(None) == "(none)"
    assert printable(["\x1b" * 10_000]) == "<list>"
    assert printable({"a": 1}) == "<dict>"
