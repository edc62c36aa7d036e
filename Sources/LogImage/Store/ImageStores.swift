/// Which store holds the image of a given name: the one place that maps an
/// image name to its `StoreScheme`, for the CLI and the library alike.
///
/// A plain path names an image directory (`DirectoryStoreScheme`). A name
/// `SCHEME://…` names an image in the store an optional module registered for
/// that scheme (LogImageRados registers `rados` for `rados://POOL/NAME`). This
/// module knows no scheme's code: a build or a program without the module
/// simply has nothing registered for it, and names it clearly in the error.
package enum ImageStores {
    /// Registered schemes, by scheme name.
    private static let registered = Locked<[String: any StoreScheme]>([:])

    /// The URL schemes of this package's optional store modules, for the
    /// messages that must name a module even where it is not built or not
    /// linked into the program: (module, the label of its `LogImage` calls,
    /// what building it needs).
    private static let optionalModules: [String: (module: String, calls: String, buildNeeds: String)] = [
        "rados": ("LogImageRados", "radosURL", "librados-dev"),
    ]

    /// Makes names `SCHEME://…` of `scheme.scheme` open through `scheme`.
    /// Registering a scheme again replaces the earlier registration.
    package static func register(_ scheme: any StoreScheme) {
        precondition(!scheme.scheme.isEmpty, "a registered store scheme needs a name")
        registered.withLock { $0[scheme.scheme] = scheme }
    }

    /// Removes the registration of `scheme` (without `://`) and returns it, so
    /// that a test can see a program without it and then restore it.
    @discardableResult
    package static func unregister(_ scheme: String) -> (any StoreScheme)? {
        registered.withLock { $0.removeValue(forKey: scheme) }
    }

    /// Whether names of `scheme` (without `://`) open here.
    package static func isRegistered(_ scheme: String) -> Bool {
        registered.withLock { $0[scheme] != nil }
    }

    /// The scheme that stores the image named `name`: the registered one for a
    /// name `SCHEME://…`, image directories through `fileSystem` otherwise.
    /// - Throws: `invalidArgument` for a URL whose scheme is not registered.
    package static func scheme(for name: String, fileSystem: any FileSystem = PosixFileSystem()) throws -> any StoreScheme {
        guard let scheme = urlScheme(of: name) else { return DirectoryStoreScheme(fileSystem: fileSystem) }
        if let s = registered.withLock({ $0[scheme] }) { return s }
        throw unsupported(name, scheme: scheme)
    }

    /// The image directories of the directory calls (`open(at:)`, `create(at:)`,
    /// `check(at:)`, `remove(at:)`): a name of a registered scheme, or of an
    /// optional module's, is refused with where such names are opened instead,
    /// rather than taken for a directory of that name. Any other name is a path.
    package static func directories(for path: String, fileSystem: any FileSystem) throws -> DirectoryStoreScheme {
        if let scheme = urlScheme(of: path) {
            if let m = optionalModules[scheme] {
                throw LogImageError(.invalidArgument, "\(path): \(scheme):// images are opened through the \(m.module) module: "
                    + "LogImage.open(\(m.calls):), create(\(m.calls):), check(\(m.calls):), remove(\(m.calls):)")
            }
            if isRegistered(scheme) {
                throw LogImageError(.invalidArgument, "\(path): \(scheme):// images are not directories; they are opened by name through the module that provides \(scheme)://")
            }
        }
        return DirectoryStoreScheme(fileSystem: fileSystem)
    }

    /// The scheme of a name `SCHEME://…` (RFC 3986: a letter, then letters,
    /// digits, `+`, `-` or `.`), or nil for a path.
    package static func urlScheme(of name: String) -> String? {
        guard let colon = name.utf8.firstIndex(of: UInt8(ascii: ":")),
              name.utf8[colon...].starts(with: "://".utf8) else { return nil }
        let scheme = name.utf8[..<colon]
        guard let first = scheme.first, isLetter(first),
              scheme.allSatisfy({ isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                  || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else { return nil }
        return String(name[..<colon])
    }

    private static func isLetter(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
    }

    /// The one error for a name whose scheme nothing registered.
    static func unsupported(_ name: String, scheme: String) -> LogImageError {
        var message = "\(name): this build has no support for \(scheme):// images"
        if let m = optionalModules[scheme] {
            message += " (built without \(m.buildNeeds): install it and rebuild)"
        }
        return LogImageError(.invalidArgument, message)
    }
}
