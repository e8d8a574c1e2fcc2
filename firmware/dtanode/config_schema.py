# The device config schema: every key of config.json, its type, range and default. The one
# definition: the device checks config.json with it at boot (dtanode.config loads this module
# for that check and drops it again, so its code does not hold heap while the device runs), and
# the host (dta.flash.devconfig) checks device.toml with it before writing config.json.
# Values of secret keys never appear in an error message.

from dtanode.errors import ConfigError

try:
    from micropython import const
except ImportError:  # CPython, on the host
    def const(x):
        return x

# Limits, each with why it exists (const: no heap on the device, see dtanode.config).
# RFC 1035: a DNS name is at most 253 characters.
_MAX_HOST = const(253)
# The hello topic is prefix + "/hello/" + 16 hex; a short prefix keeps it in one small buffer.
_MAX_TOPIC_PREFIX = const(64)
# LittleFS's name limit; paths on a device are far shorter.
_MAX_PATH = const(255)
# IEEE 802.11: an SSID is 1..32 octets; a WPA2 passphrase 8..63 printable ASCII characters,
# or a 64-hex-digit pre-shared key.
_MAX_SSID = const(32)
_MIN_WPA = const(8)
_MAX_WPA = const(63)
_WPA_PSK_HEX = const(64)
# MQTT allows 65535 bytes; a credential longer than 128 characters is a paste error.
_MAX_MQTT_CREDENTIAL = const(128)
# MQTT's keepalive is a 16-bit number of seconds.
_MAX_KEEPALIVE = const(65535)
# A device trusts a handful of D-TAs; 16 bounds the handshake's loops and this file's size.
_MAX_DTA_IDS = const(16)
# k beyond 1000 blocks (about a week on mainnet) is a typo, not a policy.
_MAX_CONFIRMATIONS = const(1000)
# Block heights are 32-bit signed in coinbases (BIP 34); a checkpoint above is not a height.
_MAX_HEIGHT = const(0x7FFFFFFF)
# A factory serial: short, and safe in a file name and on a console line.
_MAX_SERIAL = const(32)
_DTA_ID_HEX = const(64)  # a D-TA id is a SHA-256 digest, lowercase hex
# The agent's resilience settings (dtanode.agent, docs/security.md). An ESP32's task watchdog
# takes up to about an hour; below a second the agent's own steps (a handshake takes ~3 s on an
# ESP32, fed between messages) could not feed it in time.
_MIN_WDT_MS = const(1000)
_MAX_WDT_MS = const(3600000)
# A socket read waits at most this long: a broker or gateway slower than 5 min is down.
_MAX_SOCKET_S = const(300)
# Backoff: the first delay and the cap. A day between attempts is the most any fleet wants.
_MAX_BACKOFF_MS = const(86400000)
# After this many consecutive failures the agent resets or deep-sleeps (a day of retries at
# the shortest delays is far beyond this).
_MAX_FAILURES = const(1000)
# The boot-loop guard: safe mode after this many failed boots in a row (2: one failure could be
# a power glitch; 100: a loop that long has worn the flash enough).
_MIN_SAFE_BOOTS = const(2)
_MAX_SAFE_BOOTS = const(100)
# Deep sleep periods: at most a week (the resumption ticket's cap, dtacore.resumption).
_MAX_SLEEP_S = const(604800)
# The outbox keeps at most this many unacknowledged events in flash (each <= 341 bytes).
_MAX_OUTBOX = const(64)
# Application events per minute the device API lets through (flash wear, broker load).
_MAX_EVENT_RATE = const(600)
_MAX_EPOCH = 0xFFFFFFFF  # share epochs are u32 (dtacore.shares)
# Other devices a device runs a handshake with at boot (key ids, 16 hex digits): a handful.
_MAX_D2D_PEERS = const(16)
_KEY_ID_HEX = const(16)
_HEADER_HEX = const(160)  # an 80-byte Bitcoin block header, lowercase hex

TRANSPORTS = ("mqtt", "serial")
FAILURE_ACTIONS = ("reset", "deepsleep")  # what the agent does after failures_before_action
NETWORKS = ("mainnet", "testnet", "signet", "regtest")  # the names of dtacore.network
SECRET_KEYS = ("wifi_password", "mqtt_password")
# The keys the D-TA handshake needs: all present or all absent.
TRUST_KEYS = ("network", "confirmations", "dta_ids", "checkpoint_height", "checkpoint_header")

# Value kinds.
_K_STR = const(0)  # printable ASCII, no spaces: (min len, max len)
_K_TEXT = const(1)  # UTF-8 without control characters, length in bytes: (min, max)
_K_INT = const(2)  # (lo, hi), never a bool
_K_BOOL = const(3)
_K_CHOICE = const(4)  # one of a tuple
_K_HEX = const(5)  # lowercase hex of exactly a digits
_K_IDS = const(6)  # list of 1..a distinct lowercase hex strings of b digits
_K_WPA = const(7)  # WPA2 passphrase or PSK
_K_NAME = const(8)  # [A-Za-z0-9._-], (min, max)

# key: (kind, a, b, default). A default of None means the key is optional.
SCHEMA = {
    "mqtt_host": (_K_STR, 1, _MAX_HOST, "127.0.0.1"),
    "mqtt_port": (_K_INT, 1, 65535, 1883),
    "topic_prefix": (_K_STR, 1, _MAX_TOPIC_PREFIX, "dta/v1"),
    "keepalive": (_K_INT, 0, _MAX_KEEPALIVE, 30),
    "once": (_K_BOOL, 0, 0, False),
    "entropy_path": (_K_TEXT, 1, _MAX_PATH, None),
    "storage": (_K_TEXT, 1, _MAX_PATH, "."),
    "wifi_ssid": (_K_TEXT, 1, _MAX_SSID, None),
    "wifi_password": (_K_WPA, 0, 0, None),
    "transport": (_K_CHOICE, TRANSPORTS, 0, "mqtt"),
    "serial_path": (_K_TEXT, 1, _MAX_PATH, None),
    "mqtt_user": (_K_TEXT, 1, _MAX_MQTT_CREDENTIAL, None),
    "mqtt_password": (_K_TEXT, 1, _MAX_MQTT_CREDENTIAL, None),
    "network": (_K_CHOICE, NETWORKS, 0, None),
    "confirmations": (_K_INT, 1, _MAX_CONFIRMATIONS, None),
    "dta_ids": (_K_IDS, _MAX_DTA_IDS, _DTA_ID_HEX, None),
    "checkpoint_height": (_K_INT, 0, _MAX_HEIGHT, None),
    "checkpoint_header": (_K_HEX, _HEADER_HEX, 0, None),
    "serial": (_K_NAME, 1, _MAX_SERIAL, None),
    # the default outlasts a handshake's retransmissions (2+4+8+16+32 s at the default timeout)
    "wdt_timeout_ms": (_K_INT, _MIN_WDT_MS, _MAX_WDT_MS, 120000),
    "socket_timeout_s": (_K_INT, 1, _MAX_SOCKET_S, 10),
    "backoff_base_ms": (_K_INT, 10, _MAX_BACKOFF_MS, 1000),
    "backoff_cap_ms": (_K_INT, 10, _MAX_BACKOFF_MS, 300000),
    "failures_before_action": (_K_INT, 1, _MAX_FAILURES, 10),
    "failure_action": (_K_CHOICE, FAILURE_ACTIONS, 0, "reset"),
    "failure_sleep_s": (_K_INT, 1, _MAX_SLEEP_S, 600),
    "safe_mode_boots": (_K_INT, _MIN_SAFE_BOOTS, _MAX_SAFE_BOOTS, 5),
    "sleep_period_s": (_K_INT, 0, _MAX_SLEEP_S, 0),  # 0: always on; else the deep-sleep cycle
    "epoch": (_K_INT, 0, _MAX_EPOCH, 0),  # the share epoch the device asks its D-TAs for
    "outbox_size": (_K_INT, 1, _MAX_OUTBOX, 16),
    "event_rate": (_K_INT, 1, _MAX_EVENT_RATE, 10),
    "reply_timeout_ms": (_K_INT, 100, 60000, 2000),  # first wait for a D-TA; then doubled
    "d2d_peers": (_K_IDS, _MAX_D2D_PEERS, _KEY_ID_HEX, None),
    "memory_trace": (_K_BOOL, 0, 0, False),  # every console line says the heap in use
}
CONFIG_KEYS = tuple(sorted(SCHEMA))


def _shown(key, value):
    if key in SECRET_KEYS:
        return "value not shown: secret"
    try:
        text = repr(value)
    except ValueError:  # CPython: an int past its 4,300-digit conversion limit
        return "got a number too long to show"
    return "got " + (text if len(text) <= 40 else text[:37] + "...")


def _fail(key, what, value):
    raise ConfigError("%s must be %s (%s)" % (key, what, _shown(key, value)))


def _is_hex(text, n):
    if type(text) is not str or len(text) != n:
        return False
    for c in text.encode():
        if not (0x30 <= c <= 0x39 or 0x61 <= c <= 0x66):
            return False
    return True


def _check_chars(key, value, lo, hi, kind):
    if type(value) is not str:
        _fail(key, "a string", value)
    raw = value.encode()
    if not lo <= len(raw) <= hi:
        _fail(key, "%d..%d bytes long" % (lo, hi), value)
    for c in raw:
        if c < 0x20 or c == 0x7F:
            _fail(key, "free of control characters", value)
        if kind == _K_STR and (c == 0x20 or c > 0x7E):
            _fail(key, "printable ASCII without spaces", value)
        if kind == _K_NAME and not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A
                                   or c in (0x2D, 0x2E, 0x5F)):
            _fail(key, "letters, digits, '.', '-' or '_'", value)


def _check_wpa(key, value):
    if type(value) is str and len(value) == _WPA_PSK_HEX and _is_hex(value.lower(), _WPA_PSK_HEX):
        return
    if type(value) is not str or not _MIN_WPA <= len(value) <= _MAX_WPA:
        _fail(key, "a WPA2 passphrase of %d..%d characters or a %d-hex-digit key"
              % (_MIN_WPA, _MAX_WPA, _WPA_PSK_HEX), value)
    for c in value.encode():
        if not 0x20 <= c <= 0x7E:
            _fail(key, "printable ASCII (IEEE 802.11i)", value)


def _check_ids(key, value, most, digits):
    if type(value) is not list or not 1 <= len(value) <= most:
        _fail(key, "a list of 1..%d D-TA ids" % most, value)
    for i, item in enumerate(value):
        if not _is_hex(item, digits):
            _fail("%s[%d]" % (key, i), "%d lowercase hex digits" % digits, item)
        if item in value[:i]:
            _fail("%s[%d]" % (key, i), "distinct from the ids before it", item)


def check_value(key, value):
    # Raise ConfigError unless value is valid for key. None is valid for optional keys.
    kind, a, b, default = SCHEMA[key]
    if value is None:
        if default is None:
            return
        _fail(key, "given (it has no empty value)", value)
    if kind in (_K_STR, _K_TEXT, _K_NAME):
        _check_chars(key, value, a, b, kind)
        if key == "topic_prefix":
            _check_topic(value)
    elif kind == _K_INT:
        if type(value) is not int or not a <= value <= b:
            _fail(key, "an integer in %d..%d" % (a, b), value)
    elif kind == _K_BOOL:
        if type(value) is not bool:
            _fail(key, "true or false", value)
    elif kind == _K_CHOICE:
        if type(value) is not str or value not in a:
            _fail(key, "one of " + ", ".join(a), value)
    elif kind == _K_HEX:
        if not _is_hex(value, a):
            _fail(key, "%d lowercase hex digits" % a, value)
    elif kind == _K_IDS:
        _check_ids(key, value, a, b)
    elif kind == _K_WPA:
        _check_wpa(key, value)


def _check_topic(value):
    # MQTT: no wildcards in a topic name; "$" topics belong to the broker; no empty levels at
    # either end.
    if "+" in value or "#" in value or value[0] in "$/" or value[-1] == "/":
        _fail("topic_prefix", "an MQTT topic without wildcards, leading '$' or '/', "
              "or trailing '/'", value)


def _check_groups(cfg):
    given = [k for k in TRUST_KEYS if k in cfg]
    if given and len(given) != len(TRUST_KEYS):
        missing = [k for k in TRUST_KEYS if k not in cfg]
        raise ConfigError("the D-TA trust settings go together: %s given, %s missing"
                          % (", ".join(given), ", ".join(missing)))
    if "wifi_password" in cfg and "wifi_ssid" not in cfg:
        raise ConfigError("wifi_password is set but wifi_ssid is not")
    if "mqtt_password" in cfg and "mqtt_user" not in cfg:
        raise ConfigError("mqtt_password is set but mqtt_user is not")
    if cfg["backoff_base_ms"] > cfg["backoff_cap_ms"]:
        raise ConfigError("backoff_base_ms (%d) must not exceed backoff_cap_ms (%d)"
                          % (cfg["backoff_base_ms"], cfg["backoff_cap_ms"]))


def check_config(data):
    # -> the config: data's keys checked, the keys with a default filled in. An optional key
    # that is absent (or null) is left out: readers use cfg.get() for those.
    if type(data) is not dict:
        raise ConfigError("device config must be a JSON object")
    cfg = {}
    for k in SCHEMA:
        if SCHEMA[k][3] is not None:
            cfg[k] = SCHEMA[k][3]
    for k in data:
        if k not in SCHEMA:
            raise ConfigError("unknown config key %r (known: %s)" % (k, ", ".join(CONFIG_KEYS)))
        check_value(k, data[k])
        if data[k] is not None:
            cfg[k] = data[k]
    _check_groups(cfg)
    return cfg
