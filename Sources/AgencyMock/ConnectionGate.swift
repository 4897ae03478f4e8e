// ConnectionGate: the first handler of every agency connection, below TLS, and the wrapper
// that puts it there. It exists for two faults that must happen beneath HTTP:
//
// - `down`: every new connection is reset as soon as it is accepted (no TLS handshake, no
//   HTTP), which is what a client sees from a dead or firewalled endpoint;
// - `resetRate` (and `down` on a connection opened earlier): the request handler asks the
//   gate to abort the connection mid-request.
//
// Abort means SO_LINGER 0 then close from the head of the pipeline: the close does not
// pass through NIOSSLHandler, which would otherwise send a polite close_notify first, and
// the zero linger makes the kernel send RST instead of FIN. The client sees "connection
// reset by peer" without any HTTP response, the transient network error under test.
import HummingbirdCore
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class ConnectionGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Asked once per connection; true = refuse it (and count the fault).
    let refuse: @Sendable () -> Bool

    init(refuse: @escaping @Sendable () -> Bool) { self.refuse = refuse }

    /// Normally the gate is added before the connection is registered, and decides on
    /// channelActive; should it be added to a live connection, it decides at once.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive, refuse() { Self.abort(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if refuse() {
            Self.abort(context)
        } else {
            context.fireChannelActive()
        }
    }

    /// Resets the connection (see the file header); must run on the channel's event loop.
    static func abort(_ context: ChannelHandlerContext) {
        if let options = context.channel as? SocketOptionProvider {
            // On the event loop this sets the option synchronously, before the close below.
            _ = options.setSoLinger(linger(l_onoff: 1, l_linger: 0))
        }
        context.close(promise: nil)
    }

    /// Resets `channel`'s connection from any thread; completes once it is closed.
    static func abort(channel: any Channel) async {
        let done = channel.eventLoop.submit {
            if let context = try? channel.pipeline.syncOperations.context(handlerType: ConnectionGate.self) {
                abort(context)
            } else {
                channel.close(promise: nil)
            }
        }
        try? await done.get()
        try? await channel.closeFuture.get()
    }
}

/// Wraps a child channel setup (TLS over HTTP/1.1 here) with the gate in first position.
struct GatedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let refuse: @Sendable () -> Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGate(refuse: refuse), position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
