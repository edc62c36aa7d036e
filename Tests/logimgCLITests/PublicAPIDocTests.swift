import Foundation
import XCTest

/// docs/public-api.md lists every public symbol of the shipping libraries,
/// and every public symbol has a `///` doc comment.
///
/// The public declarations are found by reading the Sources of each module
/// line by line (no compiler): a declaration marked `public` or `open`, a
/// requirement of a public protocol, or a case of a public enum, when every
/// type around it is public and it is not inside a body of code. A function
/// or initializer is named with its argument labels (`remove(at:)`), anything
/// else by its name; the module's section of the doc must hold that name in
/// some backtick span (`LogImage.OpenMode` holds `LogImage` and `OpenMode`).
final class PublicAPIDocTests: XCTestCase {
    /// The shipping libraries and the heading of their section in the doc.
    static let modules = [
        ("LogImage", "## LogImage (library)"),
        ("Compactor", "## Compactor (library)"),
        ("LogImageNBD", "## LogImageNBD (library)"),
        ("LogImageControl", "## LogImageControl (library)"),
        ("LogImageMetrics", "## LogImageMetrics (library)"),
        ("LogImageRados", "## LogImageRados (library"),
    ]

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testEveryPublicSymbolIsInTheDocAndHasADocComment() throws {
        let doc = try String(contentsOf: Self.repository.appendingPathComponent("docs/public-api.md"), encoding: .utf8)
        var total = 0
        for (module, heading) in Self.modules {
            let symbols = try Self.publicSymbols(module: module)
            XCTAssertFalse(symbols.isEmpty, "no public symbol found in Sources/\(module)")
            total += symbols.count
            let names = try XCTUnwrap(Self.documentedNames(doc, heading: heading), "no section \(heading) in docs/public-api.md")
            for s in symbols {
                XCTAssertTrue(names.contains(s.name), "\(s.location): public `\(s.name)` is missing from the \(module) section of docs/public-api.md")
                XCTAssertTrue(s.hasDocComment, "\(s.location): public `\(s.name)` has no /// doc comment")
            }
        }
        // The four modules have well over a hundred public symbols; far fewer means the parser went wrong.
        XCTAssertGreaterThan(total, 150)
    }

    /// The parser sees what it should: a function with its labels over two
    /// lines, protocol requirements, enum cases, and nothing inside code,
    /// inside an internal type or marked `package`.
    func testTheParserFindsPublicDeclarations() {
        let source = """
            /// A type.
            public final class A: Sendable {
                /// Made.
                @available(*, noasync)
                public convenience init(image: Int, configuration: Int = 0,
                                        logger: String = "x") { self.init() }
                public enum Mode {
                    case one, two(Int)
                    /// Three.
                    case three = 3
                }
                package var hidden = 0
                func body() { switch 1 { case 1: break; default: break } }
                public var size: Int { let x = 1; return x }
            }
            struct Internal { public var notPublic = 0 }
            extension A {
                public static func remove(at path: String) throws {}
            }
            public protocol P {
                var v: Int { get }
                func f(_ a: Int, b c: (Int, Int) throws -> Void, d: [Int]) }
            """
        let found = Self.publicSymbols(in: source, file: "x.swift")
        XCTAssertEqual(found.map(\.name), ["A", "init(image:configuration:logger:)", "Mode", "one", "two", "three",
                                           "size", "remove(at:)", "P", "v", "f(_:b:d:)"])
        XCTAssertEqual(found.filter(\.hasDocComment).map(\.name), ["A", "init(image:configuration:logger:)", "three"])
    }

    struct Symbol {
        var name: String
        var location: String
        var hasDocComment: Bool
    }

    static func publicSymbols(module: String) throws -> [Symbol] {
        let root = repository.appendingPathComponent("Sources/\(module)")
        guard let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var symbols: [Symbol] = []
        for case let url as URL in files where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            symbols += publicSymbols(in: text, file: "Sources/\(module)/" + url.path.dropFirst(root.path.count + 1))
        }
        return symbols
    }

    /// What a `{` opened: a type's body (public or not; an extension counts
    /// as public, its members need their own `public`), a public protocol or
    /// enum, or code.
    enum Scope { case publicType, publicProtocol, publicEnum, internalType, code }

    static let declaration = try! NSRegularExpression(pattern:
        #"^\s*((?:@\w+(?:\([^)]*\))?\s+)*)((?:(?:public|open|package|private|fileprivate|internal|final|static|override|convenience|mutating|nonisolated|indirect|required|dynamic|lazy)(?:\([^)]*\))?\s+)*)(struct|class|enum|protocol|extension|actor|func|init|var|let|case|typealias|associatedtype|subscript)\b[?!]?\s*([A-Za-z_][A-Za-z0-9_]*)?"#)

    static func publicSymbols(in text: String, file: String) -> [Symbol] {
        let lines = text.components(separatedBy: "\n")
        var scopes: [Scope] = []
        var symbols: [Symbol] = []
        for (i, rawLine) in lines.enumerated() {
            let line = stripped(rawLine)
            var firstBrace: Scope = .code
            let ns = line as NSString
            if let m = declaration.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)) {
                let modifiers = ns.substring(with: m.range(at: 2)).split(separator: " ").map { $0.split(separator: "(")[0] }
                let kind = ns.substring(with: m.range(at: 3))
                let name = m.range(at: 4).location == NSNotFound ? "" : ns.substring(with: m.range(at: 4))
                let explicit = modifiers.contains("public") || modifiers.contains("open")
                let enclosing = scopes.last
                let inPublicScope = !scopes.contains { $0 == .code || $0 == .internalType }
                let isPublic: Bool
                switch kind {
                case "case": isPublic = inPublicScope && enclosing == .publicEnum
                case "extension": isPublic = false
                default: isPublic = inPublicScope && (explicit || enclosing == .publicProtocol)
                }
                switch kind {
                case "struct", "class", "actor": firstBrace = isPublic ? .publicType : .internalType
                case "enum": firstBrace = isPublic ? .publicEnum : .internalType
                case "protocol": firstBrace = isPublic ? .publicProtocol : .internalType
                case "extension": firstBrace = inPublicScope ? .publicType : .internalType
                default: firstBrace = .code
                }
                if isPublic {
                    var j = i - 1
                    while j >= 0, lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("@") { j -= 1 }
                    let documented = j >= 0 && lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("///")
                    let location = "\(file):\(i + 1)"
                    var names: [String]
                    switch kind {
                    case "func", "init", "subscript":
                        let base = kind == "func" ? name : kind
                        names = [base + "(" + labels(lines, from: i, after: m.range.location + m.range.length).map { $0 + ":" }.joined() + ")"]
                    case "case":
                        names = caseNames(ns.substring(from: m.range(at: 3).location + 4))
                    default:
                        names = [name]
                    }
                    symbols += names.map { Symbol(name: $0, location: location, hasDocComment: documented) }
                }
            }
            var first = true
            for c in line {
                if c == "{" { scopes.append(first ? firstBrace : .code); first = false }
                if c == "}" { _ = scopes.popLast() }
            }
        }
        return symbols
    }

    /// The line without its comment and string literals (their braces are not code).
    static func stripped(_ line: String) -> String {
        var out = ""
        var inString = false
        var escaped = false
        var previous: Character = " "
        for c in line {
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false; out.append("\"") }
                continue
            }
            if c == "/" && previous == "/" { out.removeLast(); break }
            if c == "\"" { inString = true }
            out.append(c)
            previous = c
        }
        return out
    }

    /// The argument labels of the parameter list starting at the first `(` at
    /// or after `column` of line `i`, which may run over several lines.
    static func labels(_ lines: [String], from i: Int, after column: Int) -> [String] {
        var text = String(stripped(lines[i]).dropFirst(column))
        var k = i
        func depthReturnsToZero(_ s: String) -> Bool {
            var depth = 0
            var opened = false
            for c in s {
                if c == "(" { depth += 1; opened = true }
                if c == ")" { depth -= 1; if opened && depth == 0 { return true } }
            }
            return false
        }
        while !depthReturnsToZero(text), k + 1 < lines.count { k += 1; text += " " + stripped(lines[k]) }
        guard let open = text.firstIndex(of: "(") else { return [] }
        var parameters: [String] = []
        var current = ""
        var depth = 0
        var previous: Character = " "
        for c in text[text.index(after: open)...] {
            defer { previous = c }
            if c == "(" || c == "[" || c == "<" { depth += 1 }
            if c == ")" || c == "]" || (c == ">" && previous != "-") {
                if depth == 0 { break }
                depth -= 1
            }
            if c == "," && depth == 0 { parameters.append(current); current = ""; continue }
            current.append(c)
        }
        parameters.append(current)
        return parameters.compactMap { p in
            let head = p.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            return head.split(separator: " ").first.map(String.init)
        }
    }

    /// `a, b(Int) = 2` gives `a`, `b`.
    static func caseNames(_ text: String) -> [String] {
        var names: [String] = []
        var current = ""
        var depth = 0
        for c in text {
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if c == "," && depth == 0 { names.append(current); current = ""; continue }
            current.append(c)
        }
        names.append(current)
        return names.compactMap { n in
            n.trimmingCharacters(in: .whitespaces).prefix { $0.isLetter || $0.isNumber || $0 == "_" }.description
        }.filter { !$0.isEmpty }
    }

    /// The names the section under `heading` holds in backtick spans: each
    /// identifier, with its argument labels when it has them (`read(into:at:)`),
    /// plus, for an enum case written with its payload (`snapshot(_:)`), the bare name.
    static func documentedNames(_ doc: String, heading: String) -> Set<String>? {
        guard let start = doc.range(of: "\n" + heading) else { return nil }
        let rest = doc[start.upperBound...]
        let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        let spans = section.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        let token = try! NSRegularExpression(pattern: #"[A-Za-z_][A-Za-z0-9_]*(?:\((?:[A-Za-z0-9_]+:)*\))?"#)
        var names: Set<String> = []
        for span in spans {
            let s = String(span)
            for m in token.matches(in: s, range: NSRange(location: 0, length: (s as NSString).length)) {
                let t = (s as NSString).substring(with: m.range)
                names.insert(t)
                if let paren = t.firstIndex(of: "("), t.hasSuffix(":)") { names.insert(String(t[..<paren])) }
            }
        }
        return names
    }
}
