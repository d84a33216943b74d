// main.swift: an HTTP client on the SkiffNet stack: connects (active open), sends one request, reads the whole reply, prints its length and CRC-32.
//
//   skiff build Examples/http-get -o http-get.hvt
//   skiff run --mem=128 --net:service0=tap0 -- http-get.hvt ip=10.77.0.2/24 [gw=10.77.0.1] \
//       server=10.77.0.1 [port=80] [path=/] [body=N] [timeout=S] [ring]
//
// It sends `GET path` (or, with body=N, `POST path` with N bytes of the pattern byte[i] = i % 251),
// with `Connection: close`, reads until the server closes, and prints the status line, the reply's
// body length and its CRC-32 (zlib's), then SUCCESS.
//
// Exit status: 0 the whole reply was read; 2 bad arguments or no network; 3 connection refused
// (the server answered the SYN with a reset, or ICMP port unreachable came back); 4 timed out (no
// answer to the SYN, or no end of the reply within timeout=S, default 60); 5 unreachable (the next
// hop never answered ARP, or ICMP destination unreachable came back); 6 the connection was reset or
// the reply is not HTTP.

import Skiff
import SkiffNet

func number(_ s: String, after prefix: String) -> Int? {
    let u = Array(s.utf8), p = Array(prefix.utf8)
    guard u.count > p.count, Array(u[0..<p.count]) == p, u.count - p.count <= 12 else { return nil }
    var n = 0
    for c in u[p.count...] {
        guard c >= 48 && c <= 57 else { return nil }
        n = n * 10 + Int(c - 48)
    }
    return n
}

func value(_ s: String, after prefix: String) -> String? {
    let u = Array(s.utf8), p = Array(prefix.utf8)
    guard u.count > p.count, Array(u[0..<p.count]) == p else { return nil }
    return String(decoding: u[p.count...], as: UTF8.self)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib.crc32), one byte at a time from a 256-entry table.
struct CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    var value: UInt32 = 0xffff_ffff
    mutating func update(_ bytes: [UInt8], from: Int = 0) {
        var c = value
        for i in from..<bytes.count { c = CRC32.table[Int((c ^ UInt32(bytes[i])) & 0xff)] ^ (c >> 8) }
        value = c
    }
    var final: UInt32 { value ^ 0xffff_ffff }
}

func hex(_ v: UInt32) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for shift in stride(from: 28, through: 0, by: -4) { out.append(digits[Int((v >> UInt32(shift)) & 0xf)]) }
    return String(decoding: out, as: UTF8.self)
}

func fail(_ text: String, _ status: Int32) -> Never {
    print("http-get: \(text)")
    Skiff.exit(status)
}

@main
struct App {
    static func main() {
        let net: Network
        do { net = try Network() } catch { fail(error.message, 2) }
        var server: IPv4Address? = nil
        var port: UInt16 = 80
        var path = "/"
        var body = 0
        var seconds = 60
        for a in net.arguments {
            if let v = value(a, after: "server=") {
                guard let ip = IPv4Address(v) else { fail("bad server '\(v)' (want server=A.B.C.D)", 2) }
                server = ip
            } else if let n = number(a, after: "port="), n > 0, n < 65536 { port = UInt16(n) }
            else if let p = value(a, after: "path="), p.utf8.first == UInt8(ascii: "/") { path = p }
            else if let n = number(a, after: "body="), n <= 1 << 30 { body = n }
            else if let n = number(a, after: "timeout="), n > 0, n <= 3600 { seconds = n }
            else { fail("unknown argument '\(a)' (want server=A.B.C.D, port=N, path=/P, body=N, timeout=S, ip=, gw=, ring)", 2) }
        }
        guard let server else { fail("no server=A.B.C.D", 2) }
        let deadline = net.now &+ UInt64(seconds) * 1_000_000_000

        // Active open: the SYN goes out now; poll (blocked in POLL, never spinning) until it resolves.
        let conn: TCPConnection
        do { conn = try net.connect(to: server, port: port) } catch { fail("\(error.message)", 2) }
        var head = Array("\(body > 0 ? "POST" : "GET") \(path) HTTP/1.1\r\nHost: \(server.description):\(port)\r\n".utf8)
        head += Array("User-Agent: skiff-http-get\r\nConnection: close\r\n".utf8)
        if body > 0 { head += Array("Content-Length: \(body)\r\n".utf8) }
        head += [13, 10]
        var headSent = conn.write(head)                  // queued while connecting: sent with the handshake's ACK
        while conn.isConnecting && net.now < deadline { net.poll(until: deadline) }
        switch conn.failure {
        case .refused?: fail("connection refused by \(server.description):\(port)", 3)
        case .timedOut?: fail("connection to \(server.description):\(port) timed out", 4)
        case .unreachable?:
            let why = net.stack.stats.icmpUnreachable > 0 ? "ICMP destination unreachable" : "no ARP answer from the next hop"
            fail("\(server.description) unreachable (\(why))", 5)
        case .reset?: fail("connection reset", 6)
        case nil: if conn.isConnecting { fail("connection to \(server.description):\(port) timed out", 4) }
        }
        print("http-get: connected to \(server.description):\(port) from port \(conn.localPort)")

        // Send the rest of the head and the body as the send buffer drains; read the reply as it comes.
        let pattern: [UInt8] = (0..<(251 * 64)).map { UInt8($0 % 251) }
        var bodySent = 0
        var header: [UInt8] = []
        var inBody = false
        var bodyBytes = 0
        var crc = CRC32()
        while true {
            if headSent < head.count { headSent += conn.write(head, from: headSent) }
            while headSent == head.count && bodySent < body {
                let start = bodySent % 251
                let w = conn.write(pattern, from: start, to: start + min(body - bodySent, pattern.count - start))
                if w == 0 { break }
                bodySent += w
            }
            let data = conn.read()
            if !data.isEmpty {
                if inBody {
                    crc.update(data); bodyBytes += data.count
                } else {
                    header += data
                    if let end = headerEnd(header) {
                        inBody = true
                        let rest = Array(header[end...])
                        header.removeLast(header.count - end)
                        crc.update(rest); bodyBytes += rest.count
                    } else if header.count > 64 * 1024 {
                        fail("reply header over 64 KiB", 6)
                    }
                }
            }
            if conn.isReadClosed { break }
            if net.now >= deadline { fail("no end of the reply within \(seconds) s", 4) }
            net.poll(until: deadline)
        }
        if conn.failure != nil || !inBody || !header.starts(with: Array("HTTP/".utf8)) {
            fail(conn.failure != nil ? "connection reset during the reply" : "not an HTTP reply (\(header.count) bytes)", 6)
        }
        conn.close()
        try? net.flush()
        let statusLine = header.firstIndex(of: 13).map { String(decoding: header[0..<$0], as: UTF8.self) } ?? ""
        print("http-get: \(statusLine)")
        print("http-get: sent \(bodySent) body bytes; reply \(header.count + bodyBytes) bytes, body \(bodyBytes) bytes, crc32 \(hex(crc.final))")
        print("SUCCESS")
    }
}

/// The offset just past the blank line ending an HTTP header, if it has arrived.
func headerEnd(_ h: [UInt8]) -> Int? {
    guard h.count >= 4 else { return nil }
    for i in 0...(h.count - 4) where h[i] == 13 && h[i + 1] == 10 && h[i + 2] == 13 && h[i + 3] == 10 { return i + 4 }
    return nil
}
