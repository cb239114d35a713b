#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where an HTTP server listens: an IPv4 or IPv6 address and a port (0: any free port), as
/// `mmstats serve --listen` and a manifest's `outputs.listen` give it.
///
/// ```swift
/// ListenAddress.parse("[::1]:9464")  // host "::1", port 9464, isIPv6
/// ListenAddress.parse("web:80")      // nil: names are not resolved
/// ```
public struct ListenAddress: Equatable, Sendable {
    /// The address, as `inet_pton` reads it (`localhost` is read as `127.0.0.1`).
    public var host: String
    /// The port; 0 asks for any free one.
    public var port: UInt16
    /// Whether `host` is an IPv6 address.
    public var isIPv6: Bool

    /// Creates an address (not checked: see `parse(_:)`).
    ///
    /// ```swift
    /// let loopback = ListenAddress(host: "127.0.0.1", port: 9464, isIPv6: false)
    /// ```
    public init(host: String, port: UInt16, isIPv6: Bool) {
        self.host = host
        self.port = port
        self.isIPv6 = isIPv6
    }

    /// `127.0.0.1:9464`, `0.0.0.0:80`, `[::1]:9464`, `localhost:9464`; nil for anything else.
    ///
    /// ```swift
    /// ListenAddress.parse("localhost:0")?.host  // "127.0.0.1"
    /// ```
    public static func parse(_ text: String) -> ListenAddress? {
        if case .success(let address) = validate(text) { return address }
        return nil
    }

    /// The address, or what is wrong with the text (a sentence without the text itself).
    ///
    /// ```swift
    /// ListenAddress.validate("127.0.0.1:70000")  // .failure: "the port '70000' is not 0 to 65535"
    /// ```
    public static func validate(_ text: String) -> Result<ListenAddress, ListenAddressError> {
        func fail(_ reason: String) -> Result<ListenAddress, ListenAddressError> {
            .failure(ListenAddressError(description: reason))
        }
        guard !text.isEmpty else { return fail("expected ADDRESS:PORT, such as 127.0.0.1:9464, not an empty string") }
        guard text.utf8.count <= 256 else { return fail("longer than 256 bytes") }
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return fail("an IPv6 address needs its closing ']'") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return fail("expected ':PORT' after ']'") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return fail("expected ADDRESS:PORT, such as 127.0.0.1:9464 (no ':PORT')")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
            let port = UInt16(portText)
        else {
            return fail("the port '\(portText.prefix(40))' is not a whole number from 0 to 65535")
        }
        if host == "localhost" { host = "127.0.0.1" }
        let isIPv6 = host.contains(":")
        // The address must parse as one: no names are resolved.
        var buffer = [UInt8](repeating: 0, count: 16)
        let status = String(host).withCString { inet_pton(isIPv6 ? AF_INET6 : AF_INET, $0, &buffer) }
        guard status == 1 else {
            return fail(
                "'\(host.prefix(60))' is not an IPv4 address, [IPv6] address or localhost (names are not resolved)")
        }
        return .success(ListenAddress(host: String(host), port: port, isIPv6: isIPv6))
    }

    /// `http://HOST:PORT` as a client writes it.
    ///
    /// ```swift
    /// ListenAddress(host: "::1", port: 80, isIPv6: true).url  // "http://[::1]:80"
    /// ```
    public var url: String { "http://" + hostAndPort }

    /// `HOST:PORT` as `--listen` takes it (`[HOST]:PORT` for IPv6).
    ///
    /// ```swift
    /// ListenAddress(host: "127.0.0.1", port: 9464, isIPv6: false).hostAndPort  // "127.0.0.1:9464"
    /// ```
    public var hostAndPort: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a listen address was refused (`ListenAddress.validate(_:)`).
///
/// ```swift
/// if case .failure(let error) = ListenAddress.validate("x") { print(error.description) }
/// ```
public struct ListenAddressError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The reason, a sentence that does not repeat the text.
    public var description: String
}
