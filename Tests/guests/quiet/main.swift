// main.swift (Tests/guests/quiet): Solo5 test_quiet: print SUCCESS and nothing else.
//
// Solo5's bindings consume `--solo5:quiet`; Skiff's runtime never prints a
// banner, so the option simply arrives as an argument and is ignored.

import Skiff

@main
struct App {
    static func main() {
        print("SUCCESS")
    }
}
