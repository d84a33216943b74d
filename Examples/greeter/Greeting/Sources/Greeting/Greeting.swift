// Greeting.swift: greetings for a list of names: the greeter example's local dependency.

/// Greets names with one salutation.
public struct Greeting: Sendable {
    /// The word before each name ("Ahoy").
    public var salutation: String

    public init(salutation: String) {
        self.salutation = salutation
    }

    /// One line per name: `Ahoy, NAME!`; `Ahoy, nobody!` when there are none.
    public func lines(for names: [String]) -> [String] {
        names.isEmpty ? ["\(salutation), nobody!"] : names.map { "\(salutation), \($0)!" }
    }

    /// The number of UTF-8 bytes in all names.
    public func count(of names: [String]) -> Int {
        names.reduce(0) { $0 + $1.utf8.count }
    }
}
