// Exports.swift: SkiffCore re-exports the image reader and the host interface, whose types (Manifest, ImageError, errnoString) its API uses.

@_exported import SkiffImage
@_exported import SkiffHost
