// main.swift: an HTTP/1.1 server on the SkiffNet TCP/IP stack (keep-alive, Content-Length, static routes, 404, request-size limit).
//
//   skiff build Examples/http -o http.hvt
//   skiff run --mem=128 --net:service0=tap0 -- http.hvt ip=10.77.0.2/24 [gw=10.77.0.1] [port=80] [ring]
//   skiff run --mem=128 --net:service0=tap0 -- http.hvt ip=dhcp          # lease an address first
//   curl http://10.77.0.2/
//
// Routes (GET and HEAD):
//   /            a short greeting
//   /bytes/N     N bytes (up to 1 GiB) of the pattern byte[i] = i % 251, for transfer checks
//   /stats       the stack's counters as text (for tests)
//   anything else 404
// POST /echo answers the request body (up to 64 KiB). Requests whose header
// exceeds 8 KiB get 431 and the connection is closed. HTTP/1.1 connections stay
// open unless the client sends `Connection: close`; HTTP/1.0 ones close.

import Skiff
import SkiffNet

let headerLimit = 8 * 1024
let bodyLimit = 64 * 1024

/// The repeating body pattern: byte at offset k is k % 251.
let pattern: [UInt8] = (0..<65536).map { UInt8($0 % 251) }

final class Session {
    let conn: TCPConnection
    var input: [UInt8] = []
    var out: [UInt8] = []          // header (and small bodies) not yet taken by the connection
    var outSent = 0
    var patternLeft = 0            // pattern bytes still to send
    var patternOffset = 0
    var closeAfter = false
    var closing = false

    init(_ c: TCPConnection) { conn = c }

    var busy: Bool { outSent < out.count || patternLeft > 0 }

    /// Moves response bytes into the connection while it has room.
    func pump() {
        if outSent < out.count {
            outSent += conn.write(out, from: outSent)
            if outSent < out.count { return }
            out = []; outSent = 0
        }
        while patternLeft > 0 {
            let start = patternOffset % 251
            let n = min(patternLeft, pattern.count - start - 251, conn.writable)
            guard n > 0 else { return }
            let w = conn.write(pattern, from: start, to: start + n)
            patternLeft -= w; patternOffset += w
            if w < n { return }
        }
        if closeAfter && !closing { closing = true; conn.close() }
    }
}

func digits(_ u: ArraySlice<UInt8>) -> Int? {
    guard !u.isEmpty, u.count <= 10 else { return nil }
    var n = 0
    for c in u {
        guard c >= 48 && c <= 57 else { return nil }
        n = n * 10 + Int(c - 48)
    }
    return n
}

func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }

/// Finds "\r\n\r\n" in `b`; returns the index just past it.
func headerEnd(_ b: [UInt8]) -> Int? {
    guard b.count >= 4 else { return nil }
    var i = 3
    while i < b.count {
        if b[i] == 10 && b[i - 1] == 13 && b[i - 2] == 10 && b[i - 3] == 13 { return i + 1 }
        i += 1
    }
    return nil
}

func response(_ status: String, _ body: [UInt8], keepAlive: Bool, head: Bool = false, contentLength: Int? = nil) -> [UInt8] {
    let length = contentLength ?? body.count
    var h = "HTTP/1.1 \(status)\r\nServer: skiff\r\nContent-Length: \(length)\r\nContent-Type: text/plain\r\n"
    h += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
    return Array(h.utf8) + (head ? [] : body)
}

struct Request {
    var method: [UInt8]
    var path: [UInt8]
    var keepAlive: Bool
    var contentLength: Int
}

/// Parses the request line and the headers we care about; nil for a malformed request.
func parse(_ b: [UInt8], end: Int) -> Request? {
    let lines = b[0..<(end - 4)].split(separator: 10, omittingEmptySubsequences: false).map { l -> ArraySlice<UInt8> in
        l.last == 13 ? l.dropLast() : l
    }
    guard let first = lines.first else { return nil }
    let parts = first.split(separator: 32)
    guard parts.count == 3 else { return nil }
    let version = Array(parts[2])
    var keep = version == Array("HTTP/1.1".utf8)
    guard keep || version == Array("HTTP/1.0".utf8) else { return nil }
    var length = 0
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: 58) else { return nil }
        let name = line[line.startIndex..<colon].map(lower)
        var value = line[(colon + 1)...]
        while value.first == 32 || value.first == 9 { value = value.dropFirst() }
        while value.last == 32 || value.last == 9 { value = value.dropLast() }
        if name == Array("content-length".utf8) {
            guard let n = digits(value) else { return nil }
            length = n
        } else if name == Array("connection".utf8) {
            let v = value.map(lower)
            if v == Array("close".utf8) { keep = false }
            if v == Array("keep-alive".utf8) { keep = true }
        } else if name == Array("transfer-encoding".utf8) {
            return nil                                       // chunked request bodies are not supported
        }
    }
    return Request(method: Array(parts[0]), path: Array(parts[1]), keepAlive: keep, contentLength: length)
}

func stats(_ net: Network, sessions: Int) -> [UInt8] {
    let s = net.stack.stats
    let text = "connections \(net.stack.connectionCount)\nsessions \(sessions)\nframes_in \(s.framesIn)\nframes_out \(s.framesOut)\n"
        + "malformed \(s.malformed)\nbad_checksum \(s.badChecksum)\nfragments_dropped \(s.fragmentsDropped)\n"
        + "tcp_resets_sent \(s.tcpResetsSent)\ntcp_syn_dropped \(s.tcpSynDropped)\ntcp_out_of_window \(s.tcpOutOfWindow)\n"
        + "tcp_out_of_order \(s.tcpOutOfOrder)\ntcp_retransmits \(s.tcpRetransmits)\ntcp_fast_retransmits \(s.tcpFastRetransmits)\n"
        + "echo_replies \(s.echoReplies)\n"
    return Array(text.utf8)
}

/// Handles every complete request buffered in `s` (pipelining in order).
func serve(_ s: Session, net: Network, sessions: Int) {
    while !s.busy && !s.closeAfter {
        guard let end = headerEnd(s.input) else {
            if s.input.count > headerLimit {
                s.out = response("431 Request Header Fields Too Large", Array("request header too large\n".utf8), keepAlive: false)
                s.closeAfter = true; s.input = []
            }
            return
        }
        if end > headerLimit {
            s.out = response("431 Request Header Fields Too Large", Array("request header too large\n".utf8), keepAlive: false)
            s.closeAfter = true; s.input = []
            return
        }
        guard let req = parse(s.input, end: end) else {
            s.out = response("400 Bad Request", Array("bad request\n".utf8), keepAlive: false)
            s.closeAfter = true; s.input = []
            return
        }
        if req.contentLength > bodyLimit {
            s.out = response("413 Content Too Large", Array("request body too large\n".utf8), keepAlive: false)
            s.closeAfter = true; s.input = []
            return
        }
        guard s.input.count >= end + req.contentLength else { return }   // body still arriving
        let body = Array(s.input[end..<(end + req.contentLength)])
        s.input.removeFirst(end + req.contentLength)
        let get = req.method == Array("GET".utf8), head = req.method == Array("HEAD".utf8)
        let path = req.path
        s.closeAfter = !req.keepAlive
        if req.method == Array("POST".utf8) && path == Array("/echo".utf8) {
            s.out = response("200 OK", body, keepAlive: req.keepAlive)
        } else if !(get || head) {
            s.out = response("405 Method Not Allowed", Array("method not allowed\n".utf8), keepAlive: req.keepAlive)
        } else if path == Array("/".utf8) {
            s.out = response("200 OK", Array("hello from a Swift unikernel\n".utf8), keepAlive: req.keepAlive, head: head)
        } else if path == Array("/stats".utf8) {
            s.out = response("200 OK", stats(net, sessions: sessions), keepAlive: req.keepAlive, head: head)
        } else if path.starts(with: Array("/bytes/".utf8)), let n = digits(path[7...]), n <= 1 << 30 {
            s.out = response("200 OK", [], keepAlive: req.keepAlive, head: head, contentLength: n)
            if !head { s.patternLeft = n; s.patternOffset = 0 }
        } else {
            s.out = response("404 Not Found", Array("not found\n".utf8), keepAlive: req.keepAlive, head: head)
        }
        s.pump()
    }
}

@main
struct App {
    static func main() {
        let net: Network
        do { net = try Network() } catch {
            print("http: \(error.message)")
            Skiff.exit(2)
        }
        var port: UInt16 = 80
        for a in net.arguments {
            if a.utf8.starts(with: "port=".utf8), let n = digits(Array(a.utf8)[5...]), n > 0, n < 65536 {
                port = UInt16(n)
            } else {
                print("http: unknown argument '\(a)' (want ip=A.B.C.D/N or ip=dhcp, gw=A.B.C.D, port=N, ring)")
                Skiff.exit(2)
            }
        }
        let server: TCPListener
        do { server = try net.listen(port: port, backlog: 256) } catch {
            print("http: cannot listen on \(port)")
            Skiff.exit(1)
        }
        print("http: listening on \(net.stack.config.address.description):\(port), mac \(net.stack.mac.description), mtu \(net.stack.mtu)")
        var sessions: [Session] = []
        while true {
            net.poll()
            while let c = server.accept() { sessions.append(Session(c)) }
            for s in sessions {
                let data = s.conn.read()
                if !data.isEmpty && !s.closeAfter { s.input += data }
                if s.busy { s.pump() }
                if !s.busy { serve(s, net: net, sessions: sessions.count) }
                if s.conn.isReadClosed && !s.busy && !s.closing { s.closing = true; s.conn.close() }
            }
            sessions.removeAll { $0.conn.isClosed }
        }
    }
}
