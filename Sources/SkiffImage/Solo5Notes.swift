// Solo5Notes.swift: the Solo5 notes of an image: ABI1 (target, version) and MFT1 (the manifest), spec §3.

extension ELFImage {
    /// Note type "ABI1": the hvt target and ABI version.
    public static let abiNoteType: UInt32 = 0x3149_4241
    /// Note type "MFT1": the application manifest.
    public static let manifestNoteType: UInt32 = 0x3154_464d
    /// The name of every Solo5 note.
    public static let solo5NoteName = "Solo5"
    /// The ABI1 target hvt and the ABI version this monitor runs.
    public static let hvtTarget: UInt32 = 1
    public static let hvtABIVersion: UInt32 = 2

    /// The ABI1 descriptor a guest for hvt carries: {target, version, 0, 0}.
    public static var hvtABINoteDescriptor: [UInt8] {
        var d: [UInt8] = []
        for v in [hvtTarget, hvtABIVersion, 0, 0] { d.appendLE(v) }
        return d
    }

    // MARK: Notes (spec §3.1)

    /// Finds the first Solo5 note of `type` and returns its usable descriptor
    /// (padding removed), or nil if there is none. Malformed candidate notes throw.
    public func solo5Note(type: UInt32, alignment: UInt64, maxSize: UInt32) throws(ImageError) -> [UInt8]? {
        for (i, ph) in programHeaders.enumerated() where ph.type == ProgramHeader.note {
            if ph.filesz < 12 {
                throw .noteSize("phdr[\(i)] p_filesz note does not fall within valid size (\(ph.filesz) < 12)")
            }
            if ph.filesz < 20 { continue }
            guard let head = bytes.slice(ph.offset, 20) else {
                throw .invalidHeader("phdr[\(i)] note outside the file")
            }
            let namesz = head.u32(0)!, descsz = head.u32(4)!, ntype = head.u32(8)!
            guard namesz == 6, head[12..<18].elementsEqual([0x53, 0x6f, 0x6c, 0x6f, 0x35, 0]) else { continue }
            guard ntype == type else { continue }
            guard descsz >= 1, descsz <= maxSize else {
                throw .noteSize("phdr[\(i)] note does not fall within valid size (n_descsz \(descsz) not in [1, \(maxSize)])")
            }
            guard ph.filesz >= 20 + UInt64(descsz) else {
                throw .noteSize("phdr[\(i)] note does not fall within valid size (p_filesz \(ph.filesz) < \(20 + UInt64(descsz)))")
            }
            let descOffset = (20 + alignment - 1) & ~(alignment - 1)
            let pad = descOffset - 20
            guard UInt64(descsz) > pad else {
                throw .noteSize("INV_EXE: phdr[\(i)] note does not fall within valid size (n_descsz \(descsz) <= padding \(pad))")
            }
            let usable = UInt64(descsz) - pad
            guard let desc = bytes.slice(ph.offset &+ descOffset, usable) else {
                throw .invalidHeader("phdr[\(i)] note descriptor outside the file")
            }
            return desc
        }
        return nil
    }

    /// Reads and checks the ABI1 note: target hvt (1), version 2.
    public func checkABINote() throws(ImageError) {
        guard var d = try solo5Note(type: ELFImage.abiNoteType, alignment: 4, maxSize: 32) else { throw .noABINote }
        while d.count < 16 { d.append(0) }
        let target = d.u32(0)!, version = d.u32(4)!
        guard target == ELFImage.hvtTarget else { throw .wrongTarget(target) }
        guard version == ELFImage.hvtABIVersion else { throw .unsupportedABIVersion(version) }
    }

    /// Reads and validates the MFT1 note (spec §3.3).
    public func manifest() throws(ImageError) -> Manifest {
        guard let d = try solo5Note(type: ELFImage.manifestNoteType, alignment: 8, maxSize: Manifest.maxNoteDescriptorSize) else {
            throw .noManifest
        }
        do { return try Manifest(descriptor: d) } catch { throw .invalidManifest(error.reason) }
    }
}
