# Wi-Fi, in one place: the radio switched on (the entropy source needs it before any secret is
# made, see dtanode.entropy) and the join to the network named in config.json (wifi_ssid /
# wifi_password). The Unix port has its host's network and no radio.

from dtacore.errors import ProtocolError

WIFI_TIMEOUT_MS = 20000


class NetError(ProtocolError):
    pass


def radio_on():
    # -> the station interface, active. ESP32: esp_random() is a true RNG only while the radio
    # (or the ADC entropy source) runs.
    import network
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    return wlan


def up(board, cfg):
    if board.get("emulated"):
        return "host network"
    ssid = cfg.get("wifi_ssid")
    if not ssid:
        raise NetError("config.json has no wifi_ssid")
    import time
    wlan = radio_on()
    if not wlan.isconnected():
        wlan.connect(ssid, cfg.get("wifi_password") or "")
        start = time.ticks_ms()
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), start) > WIFI_TIMEOUT_MS:
                raise NetError("could not join Wi-Fi network %r" % ssid)
            time.sleep_ms(100)
    return "wifi %s %s" % (ssid, wlan.ifconfig()[0])
