# Network bring-up. The Unix port has its host's network; an ESP32 joins the Wi-Fi network named
# in config.json (wifi_ssid / wifi_password). The WLAN interface is already active: the entropy
# source switched it on before any secret was made.

WIFI_TIMEOUT_MS = 20000


class NetError(Exception):
    pass


def up(board, cfg):
    if board.get("emulated"):
        return "host network"
    ssid = cfg.get("wifi_ssid")
    if not ssid:
        raise NetError("config.json has no wifi_ssid")
    import network
    import time
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(ssid, cfg.get("wifi_password") or "")
        start = time.ticks_ms()
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), start) > WIFI_TIMEOUT_MS:
                raise NetError("could not join Wi-Fi network %r" % ssid)
            time.sleep_ms(100)
    return "wifi %s %s" % (ssid, wlan.ifconfig()[0])
