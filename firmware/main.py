# Device entry point (ESP32 and the MicroPython Unix port run the same file).
import gc
import sys

try:
    from dtanode import app

    agent = app.boot()
    # The boot stages' code goes before the loop runs (dtanode.stages): the loop never needs it.
    app = None
    from dtanode.stages import unload

    unload("dtanode.app")
    code = agent.run()
    if code:
        sys.exit(code)
except KeyboardInterrupt:
    # Ctrl-C: someone at the console (provisioning over the raw REPL, docs/flashing.md). The
    # agent's modules and objects are let go so the REPL has the heap the agent had.
    app = agent = None
    for name in list(sys.modules):
        if name.startswith(("dtacore", "dtanode", "umqtt")):
            del sys.modules[name]
    gc.collect()
    print('{"event": "interrupted", "free": %d}' % gc.mem_free())
