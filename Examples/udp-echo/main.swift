// main.swift: a UDP echo server on the SkiffNet stack: every datagram to the port goes back to its sender.
//
//   skiff build Examples/udp-echo -o udp-echo.hvt
//   skiff run --net:service0=tap0 -- udp-echo.hvt ip=10.77.0.2/24 [port=7] [limit=N]
//
// With limit=N it prints SUCCESS and exits after echoing N datagrams.

import Skiff
import SkiffNet

func number(_ s: String, after prefix: String) -> Int? {
    let u = Array(s.utf8), p = Array(prefix.utf8)
    guard u.count > p.count, Array(u[0..<p.count]) == p else { return nil }
    var n = 0
    for c in u[p.count...] {
        guard c >= 48 && c <= 57, n < 1 << 40 else { return nil }
        n = n * 10 + Int(c - 48)
    }
    return n
}

@main
struct App {
    static func main() {
        let net: Network
        do { net = try Network() } catch {
            print("udp-echo: \(error.message)")
            Skiff.exit(2)
        }
        var port: UInt16 = 7
        var limit: Int? = nil
        for a in net.arguments {
            if let n = number(a, after: "port="), n > 0, n < 65536 { port = UInt16(n) }
            else if let n = number(a, after: "limit=") { limit = n }
            else {
                print("udp-echo: unknown argument '\(a)' (want ip=A.B.C.D/N, gw=A.B.C.D, port=N, limit=N, ring)")
                Skiff.exit(2)
            }
        }
        let socket: UDPSocket
        do { socket = try net.udp(port: port) } catch {
            print("udp-echo: cannot bind \(port)")
            Skiff.exit(1)
        }
        print("udp-echo: listening on \(net.stack.config.address.description):\(port)")
        var echoed = 0
        while true {
            net.poll()
            while let m = socket.receive() {
                socket.send(m.data, to: m.source, port: m.sourcePort)
                echoed += 1
                if let limit, echoed >= limit {
                    try? net.flush()
                    print("udp-echo: echoed \(echoed) datagrams")
                    print("SUCCESS")
                    return
                }
            }
        }
    }
}
