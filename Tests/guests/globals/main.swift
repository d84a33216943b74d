// main.swift (Tests/guests/globals): Solo5 test_globals: initialised global data is writable.
//
// A statically initialised global ("RUCCESS", in .data) is changed to
// "SUCCESS" and printed; a lazily initialised global array and a global
// counter are changed too.

import Skiff

nonisolated(unsafe) var message: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
    (0x52, 0x55, 0x43, 0x43, 0x45, 0x53, 0x53)  // "RUCCESS"
nonisolated(unsafe) var counter = 41
nonisolated(unsafe) var numbers = [1, 2, 3]

@inline(never)
func bump() {
    counter += 1
    numbers.append(counter)
}

@main
struct App {
    static func main() {
        message.0 = 0x53  // 'S'
        bump()
        guard counter == 42, numbers == [1, 2, 3, 42] else {
            print("FAILURE: counter \(counter), numbers \(numbers)")
            Skiff.exit(1)
        }
        withUnsafeBytes(of: &message) { Console.write(bytes: $0) }
        print("")
    }
}
