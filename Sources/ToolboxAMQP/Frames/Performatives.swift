/// Settlement policy of a sender (`snd-settle-mode`).
public enum AMQPSenderSettleMode: UInt8, Sendable {
    case unsettled = 0, settled = 1, mixed = 2
}

/// Settlement policy of a receiver (`rcv-settle-mode`).
public enum AMQPReceiverSettleMode: UInt8, Sendable {
    case first = 0, second = 1
}

/// Which end of a link a peer is (`role`: false = sender, true = receiver).
public enum AMQPRole: Sendable, Hashable {
    case sender, receiver
    var wire: Bool { self == .receiver }
    init(wire: Bool) { self = wire ? .receiver : .sender }
}

/// `open` (0x10).
public struct AMQPOpen: Hashable, Sendable {
    public var containerID: String
    public var hostname: String?
    public var maxFrameSize: UInt32 = .max
    public var channelMax: UInt16 = .max
    /// Milliseconds; nil means the sender does not time out idle connections.
    public var idleTimeOut: UInt32?
    public var outgoingLocales: [AMQPSymbol]?
    public var incomingLocales: [AMQPSymbol]?
    public var offeredCapabilities: [AMQPSymbol]?
    public var desiredCapabilities: [AMQPSymbol]?
    public var properties: AMQPMap?

    public init(containerID: String, hostname: String? = nil) {
        self.containerID = containerID
        self.hostname = hostname
    }

    init(_ f: FieldReader) throws {
        containerID = try f.required(f.string(0, "container-id"), 0, "container-id")
        hostname = try f.string(1, "hostname")
        maxFrameSize = try f.uint(2, "max-frame-size") ?? .max
        channelMax = try f.ushort(3, "channel-max") ?? .max
        idleTimeOut = try f.uint(4, "idle-time-out")
        outgoingLocales = try f.symbols(5, "outgoing-locales")
        incomingLocales = try f.symbols(6, "incoming-locales")
        offeredCapabilities = try f.symbols(7, "offered-capabilities")
        desiredCapabilities = try f.symbols(8, "desired-capabilities")
        properties = try f.map(9, "properties")
    }

    var fields: [AMQPValue] {
        [
            .string(containerID), .optional(hostname) { .string($0) }, .uint(maxFrameSize), .ushort(channelMax),
            .optional(idleTimeOut) { .uint($0) }, .symbols(outgoingLocales), .symbols(incomingLocales),
            .symbols(offeredCapabilities), .symbols(desiredCapabilities), .optional(properties) { .map($0) },
        ]
    }
}

/// `begin` (0x11).
public struct AMQPBegin: Hashable, Sendable {
    public var remoteChannel: UInt16?
    public var nextOutgoingID: UInt32
    public var incomingWindow: UInt32
    public var outgoingWindow: UInt32
    public var handleMax: UInt32 = .max
    public var offeredCapabilities: [AMQPSymbol]?
    public var desiredCapabilities: [AMQPSymbol]?
    public var properties: AMQPMap?

    public init(remoteChannel: UInt16?, nextOutgoingID: UInt32, incomingWindow: UInt32, outgoingWindow: UInt32) {
        self.remoteChannel = remoteChannel
        self.nextOutgoingID = nextOutgoingID
        self.incomingWindow = incomingWindow
        self.outgoingWindow = outgoingWindow
    }

    init(_ f: FieldReader) throws {
        remoteChannel = try f.ushort(0, "remote-channel")
        nextOutgoingID = try f.required(f.uint(1, "next-outgoing-id"), 1, "next-outgoing-id")
        incomingWindow = try f.required(f.uint(2, "incoming-window"), 2, "incoming-window")
        outgoingWindow = try f.required(f.uint(3, "outgoing-window"), 3, "outgoing-window")
        handleMax = try f.uint(4, "handle-max") ?? .max
        offeredCapabilities = try f.symbols(5, "offered-capabilities")
        desiredCapabilities = try f.symbols(6, "desired-capabilities")
        properties = try f.map(7, "properties")
    }

    var fields: [AMQPValue] {
        [
            .optional(remoteChannel) { .ushort($0) }, .uint(nextOutgoingID), .uint(incomingWindow),
            .uint(outgoingWindow), .uint(handleMax), .symbols(offeredCapabilities), .symbols(desiredCapabilities),
            .optional(properties) { .map($0) },
        ]
    }
}

/// `attach` (0x12).
public struct AMQPAttach: Hashable, Sendable {
    public var name: String
    public var handle: UInt32
    public var role: AMQPRole
    public var senderSettleMode: AMQPSenderSettleMode = .mixed
    public var receiverSettleMode: AMQPReceiverSettleMode = .first
    public var source: AMQPSource?
    public var target: AMQPTarget?
    public var unsettled: AMQPMap?
    public var incompleteUnsettled: Bool = false
    public var initialDeliveryCount: UInt32?
    public var maxMessageSize: UInt64?
    public var offeredCapabilities: [AMQPSymbol]?
    public var desiredCapabilities: [AMQPSymbol]?
    public var properties: AMQPMap?

    public init(name: String, handle: UInt32, role: AMQPRole, source: AMQPSource?, target: AMQPTarget?) {
        self.name = name
        self.handle = handle
        self.role = role
        self.source = source
        self.target = target
    }

    init(_ f: FieldReader) throws {
        name = try f.required(f.string(0, "name"), 0, "name")
        handle = try f.required(f.uint(1, "handle"), 1, "handle")
        role = AMQPRole(wire: try f.required(f.bool(2, "role"), 2, "role"))
        let snd = try f.ubyte(3, "snd-settle-mode") ?? 2
        let rcv = try f.ubyte(4, "rcv-settle-mode") ?? 0
        guard let sndMode = AMQPSenderSettleMode(rawValue: snd), let rcvMode = AMQPReceiverSettleMode(rawValue: rcv)
        else { throw AMQPError(.decoding, "attach has invalid settle modes \(snd)/\(rcv)") }
        senderSettleMode = sndMode
        receiverSettleMode = rcvMode
        source = f[5].isNull ? nil : try AMQPSource(f[5])
        target = f[6].isNull ? nil : try AMQPTarget(f[6])
        unsettled = try f.map(7, "unsettled")
        incompleteUnsettled = try f.bool(8, "incomplete-unsettled") ?? false
        initialDeliveryCount = try f.uint(9, "initial-delivery-count")
        maxMessageSize = try f.ulong(10, "max-message-size")
        offeredCapabilities = try f.symbols(11, "offered-capabilities")
        desiredCapabilities = try f.symbols(12, "desired-capabilities")
        properties = try f.map(13, "properties")
    }

    var fields: [AMQPValue] {
        [
            .string(name), .uint(handle), .bool(role.wire), .ubyte(senderSettleMode.rawValue),
            .ubyte(receiverSettleMode.rawValue), source?.encoded ?? .null, target?.encoded ?? .null,
            .optional(unsettled) { .map($0) }, incompleteUnsettled ? .bool(true) : .null,
            .optional(initialDeliveryCount) { .uint($0) }, .optional(maxMessageSize) { .ulong($0) },
            .symbols(offeredCapabilities), .symbols(desiredCapabilities), .optional(properties) { .map($0) },
        ]
    }
}

/// `flow` (0x13).
public struct AMQPFlow: Hashable, Sendable {
    public var nextIncomingID: UInt32?
    public var incomingWindow: UInt32
    public var nextOutgoingID: UInt32
    public var outgoingWindow: UInt32
    public var handle: UInt32?
    public var deliveryCount: UInt32?
    public var linkCredit: UInt32?
    public var available: UInt32?
    public var drain: Bool = false
    public var echo: Bool = false
    public var properties: AMQPMap?

    public init(nextIncomingID: UInt32?, incomingWindow: UInt32, nextOutgoingID: UInt32, outgoingWindow: UInt32) {
        self.nextIncomingID = nextIncomingID
        self.incomingWindow = incomingWindow
        self.nextOutgoingID = nextOutgoingID
        self.outgoingWindow = outgoingWindow
    }

    init(_ f: FieldReader) throws {
        nextIncomingID = try f.uint(0, "next-incoming-id")
        incomingWindow = try f.required(f.uint(1, "incoming-window"), 1, "incoming-window")
        nextOutgoingID = try f.required(f.uint(2, "next-outgoing-id"), 2, "next-outgoing-id")
        outgoingWindow = try f.required(f.uint(3, "outgoing-window"), 3, "outgoing-window")
        handle = try f.uint(4, "handle")
        deliveryCount = try f.uint(5, "delivery-count")
        linkCredit = try f.uint(6, "link-credit")
        available = try f.uint(7, "available")
        drain = try f.bool(8, "drain") ?? false
        echo = try f.bool(9, "echo") ?? false
        properties = try f.map(10, "properties")
    }

    var fields: [AMQPValue] {
        [
            .optional(nextIncomingID) { .uint($0) }, .uint(incomingWindow), .uint(nextOutgoingID),
            .uint(outgoingWindow), .optional(handle) { .uint($0) }, .optional(deliveryCount) { .uint($0) },
            .optional(linkCredit) { .uint($0) }, .optional(available) { .uint($0) }, .bool(drain), .bool(echo),
            .optional(properties) { .map($0) },
        ]
    }
}

/// `transfer` (0x14); the message bytes travel as the frame's payload.
public struct AMQPTransfer: Hashable, Sendable {
    public var handle: UInt32
    public var deliveryID: UInt32?
    public var deliveryTag: [UInt8]?
    public var messageFormat: UInt32?
    public var settled: Bool?
    public var more: Bool = false
    public var receiverSettleMode: AMQPReceiverSettleMode?
    public var state: AMQPDeliveryState?
    public var resume: Bool = false
    public var aborted: Bool = false
    public var batchable: Bool = false

    public init(handle: UInt32) { self.handle = handle }

    init(_ f: FieldReader) throws {
        handle = try f.required(f.uint(0, "handle"), 0, "handle")
        deliveryID = try f.uint(1, "delivery-id")
        deliveryTag = try f.binary(2, "delivery-tag")
        messageFormat = try f.uint(3, "message-format")
        settled = try f.bool(4, "settled")
        more = try f.bool(5, "more") ?? false
        if let rcv = try f.ubyte(6, "rcv-settle-mode") {
            guard let mode = AMQPReceiverSettleMode(rawValue: rcv) else {
                throw AMQPError(.decoding, "transfer has invalid rcv-settle-mode \(rcv)")
            }
            receiverSettleMode = mode
        }
        state = f[7].isNull ? nil : try AMQPDeliveryState(f[7])
        resume = try f.bool(8, "resume") ?? false
        aborted = try f.bool(9, "aborted") ?? false
        batchable = try f.bool(10, "batchable") ?? false
    }

    var fields: [AMQPValue] {
        [
            .uint(handle), .optional(deliveryID) { .uint($0) }, .optional(deliveryTag) { .binary($0) },
            .optional(messageFormat) { .uint($0) }, .optional(settled) { .bool($0) }, more ? .bool(true) : .null,
            .optional(receiverSettleMode) { .ubyte($0.rawValue) }, state?.encoded ?? .null,
            resume ? .bool(true) : .null, aborted ? .bool(true) : .null, batchable ? .bool(true) : .null,
        ]
    }
}

/// `disposition` (0x15).
public struct AMQPDisposition: Hashable, Sendable {
    public var role: AMQPRole
    public var first: UInt32
    public var last: UInt32?
    public var settled: Bool = false
    public var state: AMQPDeliveryState?
    public var batchable: Bool = false

    public init(role: AMQPRole, first: UInt32, last: UInt32? = nil, settled: Bool, state: AMQPDeliveryState?) {
        self.role = role
        self.first = first
        self.last = last
        self.settled = settled
        self.state = state
    }

    init(_ f: FieldReader) throws {
        role = AMQPRole(wire: try f.required(f.bool(0, "role"), 0, "role"))
        first = try f.required(f.uint(1, "first"), 1, "first")
        last = try f.uint(2, "last")
        settled = try f.bool(3, "settled") ?? false
        state = f[4].isNull ? nil : try AMQPDeliveryState(f[4])
        batchable = try f.bool(5, "batchable") ?? false
    }

    var fields: [AMQPValue] {
        [
            .bool(role.wire), .uint(first), .optional(last) { .uint($0) }, .bool(settled), state?.encoded ?? .null,
            batchable ? .bool(true) : .null,
        ]
    }
}

/// `detach` (0x16).
public struct AMQPDetach: Hashable, Sendable {
    public var handle: UInt32
    public var closed: Bool
    public var error: AMQPRemoteError?

    public init(handle: UInt32, closed: Bool, error: AMQPRemoteError? = nil) {
        self.handle = handle
        self.closed = closed
        self.error = error
    }

    init(_ f: FieldReader) throws {
        handle = try f.required(f.uint(0, "handle"), 0, "handle")
        closed = try f.bool(1, "closed") ?? false
        error = try f.error(2, "error")
    }

    var fields: [AMQPValue] { [.uint(handle), .bool(closed), error?.encoded ?? .null] }
}
