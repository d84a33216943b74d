// ManifestSource.swift: manifest.json (Solo5 schema) → the unikernel's Solo5 manifest (SkiffImage's Manifest).

import SkiffCore

/// Reads `manifest.json` as `solo5-elftool gen-manifest` does (spec 3.4):
///
/// ```json
/// {"type": "solo5.manifest", "version": 1,
///  "devices": [{"name": "storage", "type": "BLOCK_BASIC"}]}
/// ```
///
/// Strict: unknown keys are errors; at most 63 devices; names are 1-67 ASCII
/// letters or digits; types are `BLOCK_BASIC` or `NET_BASIC`. Unlike
/// elftool, duplicate names are rejected (such a device could never be
/// attached). Errors read `FILE:LINE: problem`.
public enum ManifestSource {
    public static let maxDevices = Manifest.maxEntries - 1
    public static let maxNameLength = 67

    public static func parse(_ bytes: [UInt8], fileName: String) throws(BuildError) -> Manifest {
        let root: JSONValue
        do {
            root = try parseJSON(bytes)
        } catch {
            throw BuildError("\(fileName):\(error.line): invalid JSON: \(error.message)")
        }
        func fail(_ line: Int, _ message: String) -> BuildError {
            BuildError("\(fileName):\(line): \(message)")
        }
        guard case .object(let members) = root else {
            throw fail(1, "the manifest must be a JSON object, not \(root.kindName)")
        }
        var sawType = false, sawVersion = false
        var devices: [(name: String, type: DeviceType)] = []
        for m in members {
            switch m.key {
            case "type":
                guard case .string("solo5.manifest") = m.value else {
                    throw fail(m.line, ".type: must be \"solo5.manifest\"")
                }
                sawType = true
            case "version":
                guard case .number("1") = m.value else { throw fail(m.line, ".version: must be 1") }
                sawVersion = true
            case "devices":
                guard case .array(let items) = m.value else {
                    throw fail(m.line, ".devices: must be an array, not \(m.value.kindName)")
                }
                guard items.count <= maxDevices else {
                    throw fail(m.line, ".devices: too many entries, maximum \(maxDevices)")
                }
                for (i, item) in items.enumerated() {
                    let d = try device(item, index: i, line: m.line, fail: fail)
                    if devices.contains(where: { $0.name == d.name }) {
                        throw fail(m.line, ".devices[\(i)].name: duplicate device name \"\(d.name)\"")
                    }
                    devices.append(d)
                }
            default:
                throw fail(m.line, "unknown key \"\(m.key)\" (expected type, version, devices)")
            }
        }
        guard sawType else { throw fail(1, "missing \"type\": \"solo5.manifest\"") }
        guard sawVersion else { throw fail(1, "missing \"version\": 1") }
        return Manifest(devices: devices)
    }

    static func device(_ v: JSONValue, index i: Int, line: Int,
                       fail: (Int, String) -> BuildError) throws(BuildError) -> (name: String, type: DeviceType) {
        guard case .object(let members) = v else {
            throw fail(line, ".devices[\(i)]: must be an object, not \(v.kindName)")
        }
        var name: String?, kind: DeviceType?
        for m in members {
            switch m.key {
            case "name":
                guard case .string(let s) = m.value else {
                    throw fail(m.line, ".devices[\(i)].name: must be a string")
                }
                guard isValidName(s) else {
                    throw fail(m.line, ".devices[\(i)].name: \"\(s)\" must be 1-\(maxNameLength) ASCII letters or digits")
                }
                name = s
            case "type":
                let declarable: [DeviceType] = [.blockBasic, .netBasic]
                guard case .string(let t) = m.value, let k = declarable.first(where: { $0.name == t }) else {
                    throw fail(m.line, ".devices[\(i)].type: must be \"BLOCK_BASIC\" or \"NET_BASIC\"")
                }
                kind = k
            default:
                throw fail(m.line, ".devices[\(i)]: unknown key \"\(m.key)\" (expected name, type)")
            }
        }
        guard let name else { throw fail(line, ".devices[\(i)]: missing \"name\"") }
        guard let kind else { throw fail(line, ".devices[\(i)]: missing \"type\"") }
        return (name, kind)
    }

    /// `[A-Za-z0-9]{1,67}`: the names the hvt command line can attach.
    public static func isValidName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= maxNameLength else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
        }
    }
}
