"""Devices on a serial line (USB-serial, UART bridge, a PTY for emulated devices).

Records (dtacore.serial_frame) are read with pyserial, de-framed, and each payload goes through the
same Gateway.handle_frame as an MQTT hello; a record failing its length or CRC check, or left
incomplete when the line goes quiet, is counted as a refusal (`bad-length`, `bad-crc`,
`cut-record`) and the reader resynchronises on the next SYNC.
"""

from __future__ import annotations

import logging
import threading

import serial

from dta.errors import ServiceError
from dta.gateway.service import Gateway
from dtacore.serial_frame import Deframer

log = logging.getLogger("dta.gateway.serial")

READ_TIMEOUT = 0.2  # seconds a read may block: how quickly stop() is noticed


class SerialLink:
    def __init__(self, gateway: Gateway, port: str, baudrate: int = 115200):
        self.gateway = gateway
        self.port = port
        self.baudrate = baudrate
        self.source = f"serial {port}"  # the rate limit's source, and what log lines name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial = None

    def start(self) -> "SerialLink":
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate,
                                                 timeout=READ_TIMEOUT)
        except (serial.SerialException, OSError) as exc:
            raise ServiceError(f"cannot open serial port {self.port}: {exc}") from None
        self._thread = threading.Thread(target=self._run, name=f"serial {self.port}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deframer = Deframer()
        while not self._stop.is_set():
            try:
                data = self._serial.read(512)
            except (serial.SerialException, OSError) as exc:
                log.error("serial port %s failed: %s", self.port, exc)
                return
            # A quiet read (READ_TIMEOUT) ends any record still incomplete: it was cut.
            for kind, value in deframer.feed(data) if data else deframer.idle():
                if kind == "frame":
                    self.gateway.receive(
                        lambda v=value: self.gateway.handle_frame(v, source=self.source),
                        self.source)
                else:
                    self.gateway.count_link_error(value, "a serial record", self.source)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._serial:
            self._serial.close()
