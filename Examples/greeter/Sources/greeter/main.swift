// main.swift: greeter: greets each argument with the Greeting package's words, and reports the uptime (Skiff's clock).

import Greeting
import Skiff

let greeting = Greeting(salutation: "Ahoy")
for line in greeting.lines(for: Skiff.arguments) {
    print(line)
}
print("greeter: \(Skiff.arguments.count) greeted, \(greeting.count(of: Skiff.arguments)) letters")
