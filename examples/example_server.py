"""What the example runners share: start an example server on a free loopback
port and wait until it accepts connections."""
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, **popen_args):
    """Runs `binary PORT`; returns (process, port) once the port accepts."""
    port = free_port()
    proc = subprocess.Popen([binary, str(port)], **popen_args)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port
