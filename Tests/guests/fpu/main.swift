// main.swift (Tests/guests/fpu): Solo5 test_fpu: SSE and Double arithmetic give exact results.
//
// Operands come from the command line (the e2e test passes "3 4") so the
// compiler cannot fold them; Skiff guests run at CPL3, where SSE works even
// on PVM hosts.

import Skiff

@inline(never)
func mulps(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a * b }

@main
struct App {
    static func main() {
        let args = Skiff.arguments
        guard args.count == 2, let x = Int(args[0]), let y = Int(args[1]) else {
            print("usage: fpu X Y (the test passes 3 4)")
            Skiff.exit(2)
        }
        var ok = true
        let v = mulps(SIMD4<Float>(Float(x), 2.5, -1.25, 0.5), SIMD4<Float>(Float(y), 4, 8, 0.25))
        if v != SIMD4<Float>(Float(x * y), 10, -10, 0.125) { ok = false; print("FAILURE: mulps") }
        let h = (Double(x) * Double(x) + Double(y) * Double(y)).squareRoot()
        if h != 5 { ok = false; print("FAILURE: sqrt") }
        let q = Double(y) / Double(x)
        if !(q > 1.3333333333 && q < 1.3333333334) { ok = false; print("FAILURE: division") }
        var sum = 0.0
        for i in 1...100 { sum += 1.0 / Double(i * (i + 1)) }   // telescopes to 100/101
        if abs(sum - 100.0 / 101.0) > 1e-12 { ok = false; print("FAILURE: series") }
        let f: Float = Float(x) / 7
        if Double(f) * 7 < 2.9999 || Double(f) * 7 > 3.0001 { ok = false; print("FAILURE: float") }
        print(ok ? "SUCCESS" : "FAILURE")
        if !ok { Skiff.exit(1) }
    }
}
