# Device entry point (ESP32 and the MicroPython Unix port run the same file).
from dtanode import app

app.main()
