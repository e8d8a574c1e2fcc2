# The peer for bench/device.py, run on the MicroPython VM: what an unauthenticated device does
# to say hello with the same MQTT client: connect, publish 126 random bytes at QoS 1, disconnect.
# No entropy tests, no key, no signature. Prints the heap in use after the publish.
import gc
import os
import sys

from umqtt.simple import MQTTClient

port = int(sys.argv[1])
c = MQTTClient("plain-" + "".join("%02x" % b for b in os.urandom(4)), "127.0.0.1", port)
c.connect()
c.publish(b"bench/plain/hello", os.urandom(126), qos=1)
gc.collect()
print("memory used=%d" % gc.mem_alloc())
c.disconnect()
