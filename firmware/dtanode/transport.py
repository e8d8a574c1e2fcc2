# The device's transports to its gateway: MQTT (umqtt.simple over Wi-Fi or the host network) or
# a serial line (a UART on a board; a PTY given as serial_path on the emulated board). Both
# carry the same wire frames; serial wraps each in a dtacore.serial_frame record.

from dtacore import wire


class MqttTransport:
    def __init__(self, board, cfg, kid):
        from umqtt.simple import MQTTClient

        from dtanode import wifi
        self.describe = wifi.up(board, cfg)
        self.cfg = cfg
        self.kid = kid
        # mqtt_user / mqtt_password: the broker's device account (absent: anonymous).
        self.client = MQTTClient("dta-" + wire._hex(kid), cfg["mqtt_host"], cfg["mqtt_port"],
                                 user=cfg.get("mqtt_user"), password=cfg.get("mqtt_password") or "",
                                 keepalive=cfg["keepalive"])
        self.client.connect()

    def send(self, frame):
        # QoS 1: returns once the broker acknowledged the frame.
        topic = wire.hello_topic(self.cfg["topic_prefix"], self.kid).encode()
        self.client.publish(topic, frame, qos=1)

    def idle(self):
        import time
        while True:
            time.sleep(self.cfg["keepalive"] // 2 or 1)
            self.client.ping()
            self.client.check_msg()

    def close(self):
        self.client.disconnect()


class SerialTransport:
    def __init__(self, board, cfg, kid):
        spec = board.get("transport", {}).get("serial", {})
        if board.get("emulated"):
            path = cfg.get("serial_path")
            if not path:
                raise OSError("serial transport needs serial_path on the emulated board")
            self.port = open(path, "wb")
            self.uart = False
            self.describe = "serial " + path
        else:
            from machine import UART
            self.port = UART(spec["uart"], baudrate=spec.get("baud", 115200), tx=spec["tx"],
                             rx=spec["rx"])
            self.uart = True
            self.describe = "uart %d at %d baud" % (spec["uart"], spec.get("baud", 115200))

    def send(self, frame):
        from dtacore import serial_frame
        # The Unix port writes files unbuffered (flush on a tty is EINVAL there); a UART's flush
        # waits until the last byte has left.
        self.port.write(serial_frame.encode(frame))
        if self.uart:
            self.port.flush()

    def idle(self):
        import time
        while True:
            time.sleep(60)

    def close(self):
        if hasattr(self.port, "close"):
            self.port.close()


def open_transport(board, cfg, kid):
    if cfg["transport"] == "serial":
        return SerialTransport(board, cfg, kid)
    return MqttTransport(board, cfg, kid)
