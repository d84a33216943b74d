"""netclient.py: clients for test_http.py, run inside the test's network namespace.

    python3 netclient.py concurrent ADDR N            # N connections open at once, then one GET on each: "ok N"
    python3 netclient.py hostile TAP GUEST_MAC ADDR   # raw frames: malformed, bad checksums, out of window, SYN flood
    python3 netclient.py udp ADDR PORT N              # N datagrams, each must come back: "echoed N"
    python3 netclient.py serve ADDR PORT N            # a one-request HTTP server for Examples/http-get: answers N
                                                      # pattern bytes, checks a request body is the pattern

`hostile` speaks TCP itself from a made-up address (10.77.0.77, announced by an
ARP request to the guest) over an AF_PACKET socket, so it can send what a
kernel never would; it prints one "check NAME ok|FAIL detail" line per check.
Stdlib only; root for `hostile`.
"""

from __future__ import annotations

import os
import random
import select
import socket
import struct
import sys
import time
import zlib

ETH_P_ALL = 0x0003
FAKE_MAC = bytes.fromhex("020000000077")
FAKE_IP = "10.77.0.77"


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def concurrent(addr: str, n: int) -> int:
    socks = [socket.create_connection((addr, 80), timeout=30) for _ in range(n)]
    print(f"connected {n}", flush=True)
    for s in socks:
        s.sendall(b"GET /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\n")
    ok = 0
    for s in socks:
        buf = b""
        while b"\r\n\r\n" not in buf or len(buf.split(b"\r\n\r\n", 1)[1]) < 1000:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        if buf.startswith(b"HTTP/1.1 200") and buf.split(b"\r\n\r\n", 1)[1] == pattern(1000):
            ok += 1
    for s in socks:
        s.close()
    print(f"ok {ok}", flush=True)
    return 0 if ok == n else 1


def udp(addr: str, port: int, n: int) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    echoed = 0
    for i in range(n):
        msg = f"datagram {i} ".encode() + pattern(i % 1000)
        s.sendto(msg, (addr, port))
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            continue
        if data == msg and src == (addr, port):
            echoed += 1
    print(f"echoed {echoed}", flush=True)
    return 0 if echoed == n else 1


def serve(addr: str, port: int, n: int) -> int:
    """Accepts one connection (within 120 s), reads one request (its body must be the pattern), answers
    `n` pattern bytes and closes; prints what it saw, for test_http.py to compare with the guest's view."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(120)
    print(f"listening {addr}:{port}", flush=True)
    s, peer = ls.accept()
    s.settimeout(60)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            break
        body += d
    ok = body == pattern(length)
    print(f"request {lines[0]} from {peer[0]}:{peer[1]} host {headers.get('host')} body {len(body)} "
          f"{'ok' if ok else 'BAD'}", flush=True)
    payload = pattern(n)
    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n + payload)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(65536):                  # until the guest closes its side too
            pass
    except OSError:
        pass
    s.close()
    print(f"served {n} crc32 {zlib.crc32(payload):08x}", flush=True)
    return 0 if ok else 1


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a: str) -> bytes:
    return socket.inet_aton(a)


class Raw:
    def __init__(self, tap: str, guest_mac: bytes, guest_ip: str):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.bind((tap, 0))
        self.guest_mac, self.guest_ip = guest_mac, guest_ip

    def eth(self, etype: int, payload: bytes) -> bytes:
        return self.guest_mac + FAKE_MAC + struct.pack("!H", etype) + payload

    def ip(self, proto: int, l4: bytes, src: str = FAKE_IP, bad_sum: bool = False, frag: int = 0x4000) -> bytes:
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, ip4(src), ip4(self.guest_ip))
        c = csum(h) ^ (0x5555 if bad_sum else 0)
        return self.eth(0x0800, h[:10] + struct.pack("!H", c) + h[12:] + l4)

    def tcp(self, sport: int, seq: int, ack: int, flags: int, data: bytes = b"", src: str = FAKE_IP,
            bad_sum: bool = False, window: int = 65535) -> bytes:
        h = struct.pack("!HHIIBBHHH", sport, 80, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, window, 0, 0)
        pseudo = ip4(src) + ip4(self.guest_ip) + struct.pack("!BBH", 0, 6, len(h) + len(data))
        c = csum(pseudo + h + data) ^ (0x5555 if bad_sum else 0)
        return self.ip(6, h[:16] + struct.pack("!H", c) + h[18:] + data, src=src)

    def send(self, frame: bytes) -> None:
        self.s.send(frame)

    def segments(self, dport: int, timeout: float) -> list[tuple[int, int, int, bytes]]:
        """TCP segments from the guest to FAKE_IP:dport seen within `timeout`: (seq, ack, flags, data)."""
        out = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                return out
            f, addr = self.s.recvfrom(65536)
            if len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6 or f[30:34] != ip4(FAKE_IP):
                continue
            ihl = (f[14] & 15) * 4
            t = f[14 + ihl:14 + struct.unpack("!H", f[16:18])[0]]
            sport, dp, seq, ack, off, flags = struct.unpack("!HHIIBB", t[:14])
            if dp == dport:
                out.append((seq, ack, flags, t[(off >> 4) * 4:]))


def hostile(tap: str, guest_mac: str, addr: str) -> int:
    r = Raw(tap, bytes.fromhex(guest_mac.replace(":", "")), addr)
    failures = 0

    def check(name: str, ok: bool, detail: str = "") -> None:
        nonlocal failures
        print(f"check {name} {'ok' if ok else 'FAIL'} {detail}", flush=True)
        failures += 0 if ok else 1

    rng = random.Random(16)
    # Announce FAKE_IP: an ARP request to the guest's address (the guest learns the sender).
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, FAKE_MAC, ip4(FAKE_IP), b"\0" * 6, ip4(addr))
    r.send(b"\xff" * 6 + FAKE_MAC + b"\x08\x06" + arp)
    time.sleep(0.2)
    # Garbage: random payloads as IPv4 and ARP, truncated headers, lies about lengths, fragments.
    for i in range(300):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120)))
        r.send(r.eth(0x0800 if i % 3 else 0x0806, body))
    good = r.tcp(4000, 1, 0, 0x02)
    for cut in range(14, len(good)):
        r.send(good[:cut])
    r.send(r.ip(1, b"\x08\x00\xf7\xff\0\0\0\0", bad_sum=True))          # bad IP header checksum
    r.send(r.ip(1, b"\x08\x00\xf7\xff\0\0\0\0", frag=0x2000))           # first fragment
    r.send(r.ip(1, b"\x08\x00\xf7\xff\0\0\0\0", frag=0x0010))           # later fragment
    # A SYN with a bad TCP checksum is ignored (no SYN-ACK).
    r.send(r.tcp(5555, 1000, 0, 0x02, bad_sum=True))
    check("bad_checksum_syn_ignored", not r.segments(5555, 0.5))
    # A real handshake from the made-up address.
    r.send(r.tcp(5556, 1000, 0, 0x02))
    synack = [s for s in r.segments(5556, 2.0) if s[2] & 0x12 == 0x12]
    check("handshake", bool(synack) and synack[0][1] == 1001, str(synack[:1]))
    if not synack:
        return 1
    isn = synack[0][0]
    r.send(r.tcp(5556, 1001, isn + 1, 0x10))
    # Out-of-window data: re-ACKed at 1001, not taken.
    r.send(r.tcp(5556, 1001 + 10_000_000, isn + 1, 0x18, b"JUNK"))
    acks = r.segments(5556, 0.5)
    check("out_of_window_reacked", bool(acks) and all(a[1] == 1001 and not a[3] for a in acks), str(acks[:2]))
    # A bad-checksum data segment is not taken either; an inexact RST only draws a challenge ACK.
    r.send(r.tcp(5556, 1001, isn + 1, 0x18, b"XXXX", bad_sum=True))
    r.send(r.tcp(5556, 1001 + 100, isn + 1, 0x04))
    time.sleep(0.2)
    # The connection still serves a request.
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    r.send(r.tcp(5556, 1001, isn + 1, 0x18, req))
    data = b"".join(s[3] for s in r.segments(5556, 2.0))
    check("still_serves", data.startswith(b"HTTP/1.1 200") and b"hello" in data, repr(data[:40]))
    r.send(r.tcp(5556, 1001 + len(req), isn + 1, 0x04))                # exact RST: gone
    # SYN flood from unresolvable addresses with random ports.
    for i in range(3000):
        r.send(r.tcp(rng.randrange(1024, 65535), rng.getrandbits(32), 0, 0x02, src=f"10.77.0.{100 + i % 100}"))
    print("flooded 3000", flush=True)
    return 1 if failures else 0


def main() -> int:
    cmd = sys.argv[1]
    if cmd == "concurrent":
        return concurrent(sys.argv[2], int(sys.argv[3]))
    if cmd == "hostile":
        return hostile(sys.argv[2], sys.argv[3], sys.argv[4])
    if cmd == "udp":
        return udp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    if cmd == "serve":
        return serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
