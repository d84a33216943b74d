"""lossyrelay.py: a lossy, reordering Ethernet relay between a guest's tap and a second tap (run inside the test's namespace).

    python3 lossyrelay.py GUEST_TAP HOST_TAP LOSS_PERCENT REORDER_PERCENT SEED

Opens HOST_TAP itself (the kernel side of it carries the client's address) and
moves frames between it and GUEST_TAP (through an AF_PACKET socket on the
kernel side of the guest's tap). Each frame, in either direction, is dropped
with LOSS_PERCENT probability, or held back and sent after the next frame (or
after 20 ms) with REORDER_PERCENT probability. Prints "ready" once HOST_TAP
exists; on SIGTERM prints "dropped D reordered R forwarded F" and exits.

Stands in for `tc qdisc ... netem loss 5% reorder`: the test kernel here has no
sch_netem (test_http.py uses netem when the kernel has it). Stdlib only; root.
"""

from __future__ import annotations

import fcntl
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def main() -> int:
    guest_tap, host_tap = sys.argv[1], sys.argv[2]
    loss, reorder = float(sys.argv[3]) / 100, float(sys.argv[4]) / 100
    rng = random.Random(int(sys.argv[5]))
    tap = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", host_tap.encode(), IFF_TAP | IFF_NO_PI))
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((guest_tap, 0))
    counts = {"dropped": 0, "reordered": 0, "forwarded": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    held: list[tuple[float, object, bytes]] = []

    def out(sink, frame: bytes) -> None:
        try:
            if sink == "tap":
                os.write(tap, frame)
            else:
                raw.send(frame)
            counts["forwarded"] += 1
        except OSError:
            pass

    def handle(sink, frame: bytes) -> None:
        r = rng.random()
        if r < loss:
            counts["dropped"] += 1
            return
        if r < loss + reorder:
            counts["reordered"] += 1
            held.append((time.monotonic() + 0.02, sink, frame))
            return
        out(sink, frame)
        while held:                            # what was held goes after this one
            _, s, f = held.pop(0)
            out(s, f)

    print("ready", flush=True)
    while not stop:
        try:
            ready, _, _ = select.select([tap, raw], [], [], 0.005)
        except InterruptedError:
            continue
        for fd in ready:
            if fd == tap:
                handle("guest", os.read(tap, 65536))
            else:
                frame, addr = raw.recvfrom(65536)
                if addr[2] != PACKET_OUTGOING:
                    handle("tap", frame)
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, s, f = held.pop(0)
            out(s, f)
    print(f"dropped {counts['dropped']} reordered {counts['reordered']} forwarded {counts['forwarded']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
