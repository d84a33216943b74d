"""rawframe.py: send or capture raw Ethernet frames on an interface (run inside the test's network namespace).

    python3 rawframe.py capture IFACE ETHERTYPE_HEX TIMEOUT_S   # prints "ready", then the first matching frame in hex
    python3 rawframe.py send IFACE FRAME_HEX                    # one frame

Stdlib only (AF_PACKET); needs root. Used by test_net_probe.py.
"""

from __future__ import annotations

import select
import socket
import sys
import time

ETH_P_ALL = 0x0003


def capture(iface: str, ethertype: int, timeout: float) -> int:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("timeout", flush=True)
            return 1
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        frame = s.recv(65536)
        if len(frame) >= 14 and int.from_bytes(frame[12:14], "big") == ethertype:
            print(frame.hex(), flush=True)
            return 0


def send(iface: str, frame: bytes) -> int:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.send(frame)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        sys.exit(capture(sys.argv[2], int(sys.argv[3], 16), float(sys.argv[4])))
    if sys.argv[1] == "send":
        sys.exit(send(sys.argv[2], bytes.fromhex(sys.argv[3])))
    sys.exit(f"usage: {sys.argv[0]} capture|send ...")
