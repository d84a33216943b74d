// main.swift (Tests/guests/hello): Solo5 test_hello: print the command line; SUCCESS iff it is "Hello_Solo5".
//
// Also lists Skiff.arguments one per line, so the e2e test can check how the
// command line is split.

import Skiff

@main
struct App {
    static func main() {
        print("\n**** Skiff hello ****\n")
        print("command line: [\(Skiff.commandLine)]")
        for (i, argument) in Skiff.arguments.enumerated() {
            print("arg[\(i)]: [\(argument)]")
        }
        if Skiff.commandLine == "Hello_Solo5" {
            print("SUCCESS")
        } else {
            print("FAILURE: expected the command line Hello_Solo5")
            Skiff.exit(1)
        }
    }
}
