// PackageTests.swift: `skiff init`'s options and files, `skiff build`'s reading of a package, and the Swift SDK bundle's files.

import Glibc
import Testing
@testable import SkiffBuild
import SkiffCore

@Test func initNamesMustBeSwiftIdentifiers() {
    for good in ["hello", "_x", "App2", "a_b"] { #expect(ProjectInit.isIdentifier(good), "\(good)") }
    for bad in ["", "9lives", "a-b", "a.b", "é", String(repeating: "a", count: 65), "a b"] {
        #expect(!ProjectInit.isIdentifier(bad), "\(bad)")
    }
}

@Test func initOptions() throws {
    let o = try ProjectInit.parse(["--arch", "aarch64", "k"])
    #expect(o.name == "k" && o.platform.arch == "aarch64" && o.platform.name == "virt")
    let x = try ProjectInit.parse(["--platform=xen", "k"])
    #expect(x.platform.arch == "x86_64" && x.platform.name == "xen" && x.platform.sdkName == "skiff-x86_64-xen")
    for (args, message) in [([], "missing NAME"), (["a", "b"], "more than one NAME"), (["--arch"], "--arch needs a value"),
                            (["Skiff"], "Skiff module"), (["--platform", "virt", "--arch", "x86_64", "k"], "not a supported pair")] {
        #expect(throws: BuildError.self) { try ProjectInit.parse(args) }
        do {
            _ = try ProjectInit.parse(args)
        } catch {
            #expect(error.message.contains(message), "\(args): \(error.message)")
        }
    }
}

/// A scratch directory, removed by the caller.
func scratchDirectory(_ tag: String) -> String {
    let dir = "/tmp/skiff-package-test-\(getpid())-\(tag)"
    _ = shell("rm -rf \(dir)")
    mkdir(dir, 0o755)
    return dir
}

@Test func initWritesAPackageThatSkiffBuildReads() throws {
    let dir = scratchDirectory("init")
    defer { _ = shell("rm -rf \(dir)") }
    let o = try ProjectInit.parse(["--arch", "aarch64", "--platform", "hvt", "probe"])
    try ProjectInit.create(o, in: dir + "/probe", skiffPackage: "/opt/skiff/share/skiff/Guest")
    let text = String(decoding: try FileSystem.readFile(dir + "/probe/Package.swift"), as: UTF8.self)
    #expect(text.contains(".package(path: \"/opt/skiff/share/skiff/Guest\")"))
    #expect(text.contains(".executableTarget(name: \"probe\""))
    #expect(text.contains("swift build --swift-sdk skiff-aarch64-hvt"))
    let manifest = try ManifestSource.parse(try FileSystem.readFile(dir + "/probe/manifest.json"), fileName: "manifest.json")
    #expect(manifest.entries.count == 1)   // the reserved entry only: no devices yet
    let package = try #require(try PackageSource.open(dir + "/probe"))
    #expect(package.target == "probe")
    #expect(package.sources == [dir + "/probe/Sources/probe/main.swift"])
    #expect(package.manifest == dir + "/probe/manifest.json")
    #expect(package.platform?.0 == "aarch64" && package.platform?.1 == "hvt")
    // skiff build picks that platform and names the output after the target.
    let options = try BuildOptions.parse([dir + "/probe"])
    #expect(options.arch == "aarch64" && options.platform == "hvt" && options.output == "probe.hvt")
    // An explicit --arch wins over the package's line.
    #expect(try BuildOptions.parse([dir + "/probe", "--arch", "x86_64"]).platform == "hvt")
    #expect(try BuildOptions.parse([dir + "/probe", "--arch", "x86_64"]).arch == "x86_64")
    // The directory exists now: a second init refuses it.
    #expect(throws: BuildError.self) { try ProjectInit.create(o, in: dir + "/probe", skiffPackage: "/x") }
}

@Test func packageSourcesIncludeSubdirectoriesAndRefuseSeveralTargets() throws {
    let dir = scratchDirectory("pkg")
    defer { _ = shell("rm -rf \(dir)") }
    #expect(shell("mkdir -p \(dir)/Sources/App/Sub && touch \(dir)/Package.swift \(dir)/Sources/App/main.swift "
                  + "\(dir)/Sources/App/Sub/More.swift \(dir)/Sources/App/notes.txt") == 0)
    let p = try #require(try PackageSource.open(dir))
    #expect(p.sources == [dir + "/Sources/App/Sub/More.swift", dir + "/Sources/App/main.swift"])
    #expect(p.manifest == nil && p.platform == nil)
    #expect(try PackageSource.open(dir + "/Sources") == nil)      // not a package: no Package.swift
    #expect(shell("mkdir -p \(dir)/Sources/Lib && touch \(dir)/Sources/Lib/Lib.swift") == 0)
    do {
        _ = try PackageSource.open(dir)
        Issue.record("two targets accepted")
    } catch {
        #expect(error.message.contains("2 targets (App, Lib)") && error.message.contains("swift build --swift-sdk"))
    }
    // Dependencies besides Skiff: SwiftPM's to build (commented-out lines do not count).
    #expect(shell("rm -r \(dir)/Sources/Lib && printf '  .package(path: \"/s/Guest\"),\\n  // .package(path: \"x\"),\\n' > \(dir)/Package.swift") == 0)
    #expect(try PackageSource.open(dir) != nil)
    #expect(shell("printf '  .package(path: \"Other\"),\\n' >> \(dir)/Package.swift") == 0)
    do {
        _ = try PackageSource.open(dir)
        Issue.record("a package with a dependency accepted")
    } catch {
        #expect(error.message.contains("dependencies besides Skiff"))
    }
    #expect(PackageSource.contains(Array("ab.package(c".utf8), Array(".package(".utf8)))
    #expect(!PackageSource.contains(Array(".packag".utf8), Array(".package(".utf8)))
    #expect(shell("printf '// skiff-platform: x86_64\\n' > \(dir)/Package.swift") == 0)
    #expect(throws: BuildError.self) { try PackageSource.open(dir) }    // no dash: not ARCH-PLATFORM
}

@Test func sdkBundleHasOneSDKPerPlatformWithSkiffLinkAsItsClang() throws {
    try #require(toolchainPresent, "Swift toolchain not found")
    let dir = scratchDirectory("sdk")
    defer { _ = shell("rm -rf \(dir)") }
    setenv("SKIFF_RUNTIME_DIR", repositoryRoot, 1)
    defer { unsetenv("SKIFF_RUNTIME_DIR") }
    let bundle = try SwiftSDK.writeBundle(into: dir, skiff: "/opt/skiff/bin/skiff")
    let info = try parseJSON(try FileSystem.readFile(bundle + "/info.json"))
    guard case .object(let top) = info, case .object(let artifacts)? = top.first(where: { $0.key == "artifacts" })?.value else {
        Issue.record("info.json: no artifacts object")
        return
    }
    #expect(artifacts.map { $0.key } == Platform.all.map { $0.sdkName })
    for p in Platform.all {
        let v = bundle + "/" + p.sdkName
        let sdk = String(decoding: try FileSystem.readFile(v + "/swift-sdk.json"), as: UTF8.self)
        #expect(sdk.contains("\"\(p.triple)\""))
        let toolsetBytes = try FileSystem.readFile(v + "/toolset.json")
        _ = try parseJSON(toolsetBytes)                                   // valid JSON
        let toolset = String(decoding: toolsetBytes, as: UTF8.self)
        #expect(toolset.contains("\"Embedded\"") && toolset.contains("\"-D\(p.define)\"") && toolset.contains("\"rootPath\": \"bin\""))
        #expect(!toolset.contains("-parse-as-library") && !toolset.contains("\"-target\""))
        let script = String(decoding: try FileSystem.readFile(v + "/bin/clang"), as: UTF8.self)
        #expect(script.contains("exec /opt/skiff/bin/skiff link --arch \(p.arch) --platform \(p.name) -- \"$@\""))
        #expect(access(v + "/bin/clang", X_OK) == 0)
    }
}
