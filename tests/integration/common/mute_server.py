"""A TCP server that accepts connections and never answers: a wedged dependency or deployment.

Binds a free loopback port, prints it on one line, then holds every connection it accepts until
SECONDS (default 30) have passed.
    python3 mute_server.py [SECONDS] >port.txt &
"""
import socket
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
held = []
listener.settimeout(0.2)
end = time.time() + seconds
while time.time() < end:
    try:
        held.append(listener.accept())
    except OSError:
        pass
