"""The hello decoder and the firmware's ECDSA on the real MicroPython VM (64 KiB heap)."""

import json
from pathlib import Path

from dta.services import micropython

HERE = Path(__file__).parent
VECTOR = HERE.parent / "vectors/wire/hello.json"


def test_vm_accepts_host_signed_hello_and_refuses_every_flip():
    vec = json.loads(VECTOR.read_text())
    out = micropython.run(HERE / "vm/hello_check.py", str(VECTOR))
    lines = out.stdout.decode().splitlines()
    assert out.returncode == 0, out.stdout.decode()
    assert lines[0] == f"ok {vec['key_id']} {vec['boot']} {vec['board']} {vec['firmware']}"
    n = len(bytes.fromhex(vec["frame"]))
    assert lines[-1] == f"refused {n} of {n}"
