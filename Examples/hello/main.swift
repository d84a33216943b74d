// main.swift: hello, the smallest Skiff unikernel: prints its arguments.
//
//   skiff build Examples/hello -o hello.hvt && skiff run hello.hvt a b
//   hello: a b

import Skiff

@main
struct App {
    static func main() {
        var line = "hello:"
        for argument in Skiff.arguments {
            line += " " + argument
        }
        print(line)
    }
}
