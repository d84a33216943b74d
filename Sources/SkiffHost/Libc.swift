// Libc.swift: the C library for every module above: Glibc's (or Musl's) Swift overlay in normal builds, the CSkiffLinux C module in Embedded builds.
//
// Modules import SkiffHost (SkiffCore re-exports it) and never Glibc
// directly, so the tender's code compiles both ways. The Embedded branch
// supplies the few names an overlay adds on top of the C headers.

#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#else
@_exported import CSkiffLinux

/// The calling thread's errno.
public var errno: Int32 {
    get { cskiff_errno() }
    set { cskiff_set_errno(newValue) }
}

/// open(2) (variadic in C).
public func open(_ path: String, _ flags: Int32, _ mode: UInt32 = 0) -> Int32 {
    path.withCString { cskiff_open($0, flags, mode) }
}

/// mmap's failure value ((void *)-1, a macro Swift does not import).
public let MAP_FAILED = cskiff_map_failed()
#endif
@_exported import CSkiffLinux
