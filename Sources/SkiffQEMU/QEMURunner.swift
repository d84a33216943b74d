// QEMURunner.swift: run an aarch64 Skiff image on QEMU's `virt` machine (PLACEHOLDER until the aarch64 port lands).

import Glibc
import SkiffCore

/// Runs an aarch64 image described by `options` under qemu-system-aarch64 and
/// returns the process exit status (the guest's).
public func runAArch64Image(_ options: RunOptions, warn: (String) -> Void) -> Int32 {
    warn("aarch64 images are not supported yet")
    return 1
}
