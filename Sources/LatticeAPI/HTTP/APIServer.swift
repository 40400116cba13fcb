package import LatticeNode

/// The HTTP API of a hosted node: an `HTTPServer` on the node's loop whose every authenticated
/// request `APIRoutes` answers (the status page's HTML is served without the token).
package enum APIServer {
    /// The server options for the API at `address` with the bearer `token`: `localhost` is bound
    /// as 127.0.0.1, and the status page is a public path (its HTML holds no data; it calls the
    /// API with the token).
    package static func options(token: String, address: SocketAddress) -> HTTPServer.Options {
        var o = HTTPServer.Options(token: token)
        o.address = address.host == "localhost" ? SocketAddress(host: "127.0.0.1", port: address.port) : address
        o.publicPaths = [StatusPage.path]
        return o
    }

    /// Starts the API of `node` (before its loop runs, or on it). The node must be the hosted one
    /// (`Hosting.node`), since the routes run its commands.
    /// - Parameters:
    ///   - node: the node whose loop serves the connections.
    ///   - options: from `options(token:address:)`.
    ///   - dataDirectory: the node's data directory, as the routes' commands name it.
    /// - Returns: the listening server (`address` holds the bound port).
    /// - Throws: when the address cannot be bound.
    package static func start(_ node: Node, options: HTTPServer.Options, dataDirectory: String) throws -> HTTPServer {
        try HTTPServer(options: options, loop: node.loop, log: node.log) { APIRoutes.handle($0, dataDirectory: dataDirectory) }
    }
}
