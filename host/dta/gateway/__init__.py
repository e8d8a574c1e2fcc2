"""The gateway: receives device frames over MQTT or serial, verifies them, registers devices."""
