# dtanode: the device agent (MicroPython only; runs on ESP32 boards and on the Unix port).
