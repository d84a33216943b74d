// Platform.swift: what the platform under the runtime offers (capabilities) and the device manifest it attached.

import SkiffRuntime

/// The platform the unikernel was built for (`skiff build --platform`),
/// as the C runtime describes it. Swift code asks it instead of testing the
/// architecture: the same `Skiff` sources serve every platform.
enum Platform {
    /// True if the platform offers `capability` (a `SKIFF_CAP_*` bit).
    static func offers(_ capability: UInt32) -> Bool {
        skiff_platform_capabilities() & capability != 0
    }

    /// The attached manifest entry `name` of `type` (`MFT_DEV_*`) and its
    /// handle (its index in the manifest).
    ///
    /// - Throws: ``SkiffError/notFound`` if no attached device of that type
    ///   has that name.
    static func device(named name: String, type: UInt32) throws(SkiffError) -> (handle: UInt64, entry: mft_entry) {
        var name = name
        var handle: UInt64 = 0
        let entry = name.withUTF8 { buf in
            skiff_mft_lookup(UnsafeRawPointer(buf.baseAddress)?.assumingMemoryBound(to: CChar.self),
                             buf.count, type, &handle)
        }
        guard let entry else { throw .notFound }
        return (handle, entry.pointee)
    }
}
