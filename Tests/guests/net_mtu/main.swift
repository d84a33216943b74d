// main.swift (Tests/guests/net_mtu): Solo5 test_net_mtu: print the MTU the monitor reports for service0.

import Skiff

@main
struct App {
    static func main() {
        do {
            let net = try NetDevice(name: "service0")
            print("MTU is \(net.mtu)")
            print("SUCCESS")
        } catch {
            print("FAILURE: no network device 'service0': \(error)")
            Skiff.exit(1)
        }
    }
}
