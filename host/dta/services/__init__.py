"""Local services the demo and the tests start themselves: MQTT broker, MicroPython VM, ..."""
