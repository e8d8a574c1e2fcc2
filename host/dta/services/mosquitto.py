"""Start a private mosquitto broker on a free loopback port, stop it by PID.

With `users` it requires authentication: a password file (hashed by `mosquitto_passwd -U`, the
plaintext never on a command line) and an ACL. `fleet_acl` is the ACL a D-TA fleet needs
(docs/channel.md has the topics): the gateway reads hellos and events, answers acks, bridges
serial devices and owns its claim topic (dta.gateway.mqtt_link); a D-TA (authority account)
reads hellos and its channel, writes to devices; devices publish hellos, events and channel
frames and read what is sent to them. Channel frames are authenticated end to end (handshake,
records) and their ids checked against the topic, so the ACL bounds who may talk, not what. The
demo and `dta devnet` start it that way; the tests start it anonymous or authenticated as each
test needs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dta.errors import ServiceError
from dta.services import process

READY_TIMEOUT = 10.0
GATEWAY_USER = "dta-gateway"
DEVICE_USER = "dta-device"
AUTHORITY_USER = "dta-authority"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fleet_acl(topic_prefix: str, gateway_user: str = GATEWAY_USER,
              device_user: str = DEVICE_USER, authority_user: str = AUTHORITY_USER) -> str:
    p = topic_prefix
    # The gateway writes hellos too: those of its serial devices (dta.gateway.serial_link).
    return (f"user {gateway_user}\ntopic readwrite {p}/hello/+\ntopic readwrite {p}/gateway/#\n"
            f"topic read {p}/event/+\ntopic write {p}/ack/+\n"
            f"topic write {p}/dta/+/+\ntopic read {p}/dev/+/+\n"
            f"topic readwrite {p}/d2d/+/+\n\n"
            f"user {authority_user}\ntopic read {p}/hello/+\ntopic read {p}/dta/+/+\n"
            f"topic write {p}/dev/+/+\n\n"
            f"user {device_user}\ntopic write {p}/hello/+\ntopic write {p}/event/+\n"
            f"topic read {p}/ack/+\ntopic write {p}/dta/+/+\ntopic read {p}/dev/+/+\n"
            f"topic readwrite {p}/d2d/+/+\n")


def write_secret(path: Path, text: str) -> Path:
    """A credential file: 0600, written atomically, the secret on its first line."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class FleetCredentials:
    """The two broker accounts of a fleet, with their passwords in 0600 files under `root`."""

    root: Path

    @property
    def gateway_file(self) -> Path:
        return self.root / "mqtt-gateway.password"

    @property
    def device_file(self) -> Path:
        return self.root / "mqtt-device.password"

    @property
    def authority_file(self) -> Path:
        return self.root / "mqtt-authority.password"

    def ensure(self) -> "FleetCredentials":
        """Make the passwords once (random, 128 bits); later calls keep them."""
        for path in (self.gateway_file, self.device_file, self.authority_file):
            if not path.exists():
                write_secret(path, secrets.token_hex(16))
        return self

    def users(self) -> dict[str, str]:
        return {GATEWAY_USER: self.password(self.gateway_file),
                DEVICE_USER: self.password(self.device_file),
                AUTHORITY_USER: self.password(self.authority_file)}

    @staticmethod
    def password(path: Path) -> str:
        return path.read_text().splitlines()[0]


class Mosquitto(process.ChildService):
    """A mosquitto process with its own config, listening on 127.0.0.1:port only. `users`
    ({name: password}) turns authentication on, with `acl` (mosquitto ACL text) if given."""

    def __init__(self, workdir: Path, port: int | None = None, persistence: bool = False, *,
                 users: dict[str, str] | None = None, acl: str | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.persistence = persistence
        self.users = users
        self.acl = acl
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.log_path = self.workdir / "mosquitto.log"

    def _config(self) -> str:
        # set_tcp_nodelay: a frame is forwarded at once instead of waiting out Nagle's delay
        # (~40 ms a hop, measured by bench/issuance.py), which a handshake pays four times.
        lines = [f"listener {self.port} 127.0.0.1", "set_tcp_nodelay true",
                 "log_dest stdout", "log_type error",
                 "log_type warning", "log_type notice", "log_type information",
                 f"persistence {'true' if self.persistence else 'false'}",
                 f"persistence_location {self.workdir}/"]
        if self.users:
            lines += ["allow_anonymous false", f"password_file {self.workdir / 'passwd'}"]
            if self.acl:
                lines.append(f"acl_file {self.workdir / 'acl'}")
        else:
            lines.append("allow_anonymous true")
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the `mosquitto` user, which cannot write the
            # persistence file into our private work directory: stay the user that started it.
            lines.append("user root")
        return "\n".join(lines) + "\n"

    def _write_users(self) -> None:
        passwd = self.workdir / "passwd"
        write_secret(passwd, "\n".join(f"{u}:{p}" for u, p in self.users.items()))
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        done = subprocess.run([tool, "-U", str(passwd)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceError(f"mosquitto_passwd could not hash the password file: "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        if self.acl:
            write_secret(self.workdir / "acl", self.acl.rstrip("\n"))

    def start(self) -> "Mosquitto":
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise ServiceError("mosquitto is not installed (Debian package mosquitto; make setup)")
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.users:
            self._write_users()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self._config())
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C on the terminal reaches the command that started it,
            # which stops it in order, and never the broker directly.
            self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        # Ready when the port accepts a connection; give up if the process exits first.
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise ServiceError("mosquitto did not start: " + " | ".join(tail))
