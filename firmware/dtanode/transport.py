# The device's transports to its gateway: MQTT (umqtt.simple over Wi-Fi or the host network) or
# a serial line (a UART on a board; a PTY given as serial_path on the emulated board). Both
# carry the same wire frames; serial wraps each in a dtacore.serial_frame record.
#
# Both offer the same calls: send(topic, frame) (QoS 1 on MQTT: it returns once the broker
# has the frame), poll(ms) -> (topic, frame) or None, ping(), close(). Every socket read and
# write has a timeout (socket_timeout_s): umqtt.simple makes its socket itself and switches it
# between blocking and non-blocking, which would drop a timeout, so the module it calls for
# sockets is given a stand-in whose sockets keep theirs (_TimedSockets). Over serial the gateway
# bridges the same topics by the ids inside the frames, so a topic is not sent there.

from dtacore import wire

_TIMEOUTS = (110, 11)  # ETIMEDOUT, EAGAIN: a read that waited its time and got nothing
# Incoming frames waiting for the agent; beyond this the oldest go (a flood from the broker
# must not take the heap). A session's burst (a bundle part, receipt parts) is read as it comes.
MAX_INBOX = 8
# Bytes written to and read from the broker's socket since boot (TCP payload: MQTT included).
WIRE = [0, 0]


class LinkError(Exception):
    # The step that failed: "wifi", "dns", "connect", "publish", "link"
    def __init__(self, step, detail):
        super().__init__("%s: %s" % (step, detail))
        self.step = step


class _TimedSocket:
    def __init__(self, sock, timeout):
        self.s = sock
        self.timeout = timeout
        sock.settimeout(timeout)

    def connect(self, addr):
        self.s.connect(addr)

    def read(self, n):
        got = self.s.read(n)
        if got:
            WIRE[1] += len(got)
        return got

    def write(self, buf, n=None):
        out = self.s.write(buf) if n is None else self.s.write(buf, n)
        WIRE[0] += out or 0
        return out

    def setblocking(self, flag):
        self.s.settimeout(self.timeout if flag else 0)

    def settimeout(self, t):
        self.s.settimeout(t)

    def close(self):
        self.s.close()


class _TimedSockets:
    # What umqtt.simple sees as its `socket` module.
    def __init__(self, timeout):
        import socket
        self.m = socket
        self.timeout = timeout

    def socket(self):
        return _TimedSocket(self.m.socket(), self.timeout)

    def getaddrinfo(self, host, port):
        try:
            return self.m.getaddrinfo(host, port)
        except OSError as e:
            raise LinkError("dns", "%s: %s" % (host, e)) from None


class MqttTransport:
    def __init__(self, board, cfg, kid):
        from umqtt import simple

        from dtanode import wifi
        try:
            self.describe = wifi.up(board, cfg)
        except wifi.NetError as e:
            raise LinkError("wifi", str(e)) from None
        finally:
            wifi = None
            from dtanode.stages import unload
            unload("dtanode.wifi")  # joined: the next connect loads it again
        simple.socket = _TimedSockets(cfg["socket_timeout_s"])
        self.cfg = cfg
        self.kid = kid
        self.inbox = []
        # mqtt_user / mqtt_password: the broker's device account (absent: anonymous).
        self.client = simple.MQTTClient("dta-" + wire._hex(kid), cfg["mqtt_host"],
                                        cfg["mqtt_port"], user=cfg.get("mqtt_user"),
                                        password=cfg.get("mqtt_password") or "",
                                        keepalive=cfg["keepalive"])
        self.client.set_callback(self._on_message)
        try:
            # A persistent session: QoS 1 frames for the device wait at the broker while it
            # sleeps or reconnects.
            self.client.connect(clean_session=False)
        except LinkError:
            raise
        except (OSError, simple.MQTTException, IndexError) as e:
            self._drop()
            raise LinkError("connect", "%s:%d %r" % (cfg["mqtt_host"], cfg["mqtt_port"],
                                                     e)) from None
        p = cfg["topic_prefix"] + "/"
        h = wire._hex(kid)
        for t in ("dev/%s/+", "ack/%s", "d2d/%s/+"):
            self._io("link", self.client.subscribe, (p + t % h).encode(), 1)

    def _drop(self):
        try:
            self.client.sock.close()
        except (OSError, AttributeError):
            pass

    def _on_message(self, topic, msg):
        if len(self.inbox) >= MAX_INBOX:
            self.inbox.pop(0)
        self.inbox.append((topic, msg))

    def _io(self, step, f, *args):
        try:
            return f(*args)
        except (OSError, IndexError, AssertionError) as e:
            # umqtt.simple reports a lost connection as an OSError, a short read as an
            # IndexError and a protocol surprise with assert: each ends the link.
            self._drop()
            raise LinkError(step, repr(e)) from None

    def send(self, topic, frame):
        # QoS 1: returns once the broker acknowledged the frame.
        self._io("publish", self.client.publish, topic.encode(), frame, False, 1)

    def poll(self, ms):
        # -> (topic, frame) received within ms, or None.
        if self.inbox:
            return self.inbox.pop(0)
        sock = self.client.sock
        sock.settimeout(ms / 1000)
        try:
            self.client.wait_msg()
        except OSError as e:
            if e.args and e.args[0] in _TIMEOUTS:
                sock.settimeout(self.cfg["socket_timeout_s"])
                return None
            self._drop()  # closed: its timeout is not set again (that would say EBADF instead)
            raise LinkError("link", repr(e)) from None
        except (IndexError, AssertionError) as e:
            self._drop()
            raise LinkError("link", repr(e)) from None
        sock.settimeout(self.cfg["socket_timeout_s"])
        return self.inbox.pop(0) if self.inbox else None

    def ping(self):
        self._io("link", self.client.ping)

    def close(self):
        try:
            self.client.disconnect()
        except (OSError, AttributeError):
            pass


class SerialTransport:
    def __init__(self, board, cfg, kid):
        spec = board.get("transport", {}).get("serial", {})
        self.inbox = []
        if board.get("emulated"):
            path = cfg.get("serial_path")
            if not path:
                raise LinkError("connect", "serial transport needs serial_path on the emulated "
                                "board")
            try:
                self.port = open(path, "r+b")
            except OSError as e:
                raise LinkError("connect", "%s: %r" % (path, e)) from None
            self.uart = False
            self.describe = "serial " + path
        else:
            from machine import UART
            self.port = UART(spec["uart"], baudrate=spec.get("baud", 115200), tx=spec["tx"],
                             rx=spec["rx"])
            self.uart = True
            self.describe = "uart %d at %d baud" % (spec["uart"], spec.get("baud", 115200))
        import select

        from dtacore import serial_frame
        self.deframer = serial_frame.Deframer()
        self.poller = select.poll()
        self.poller.register(self.port, select.POLLIN)

    def send(self, topic, frame):
        from dtacore import serial_frame
        # The Unix port writes files unbuffered (flush on a tty is EINVAL there); a UART's flush
        # waits until the last byte has left.
        try:
            record = serial_frame.encode(frame)
            self.port.write(record)
            WIRE[0] += len(record)
            if self.uart:
                self.port.flush()
        except OSError as e:
            raise LinkError("publish", repr(e)) from None

    def poll(self, ms):
        if not self.inbox and self.poller.poll(ms):
            data = self.port.read(256) if self.uart else self.port.read(1)
            WIRE[1] += len(data or b"")
            for kind, item in self.deframer.feed(data or b""):
                if kind == "frame":
                    self.inbox.append((None, item))
        return self.inbox.pop(0) if self.inbox else None

    def ping(self):
        pass

    def close(self):
        if hasattr(self.port, "close"):
            self.port.close()


def open_transport(board, cfg, kid):
    if cfg["transport"] == "serial":
        return SerialTransport(board, cfg, kid)
    return MqttTransport(board, cfg, kid)
