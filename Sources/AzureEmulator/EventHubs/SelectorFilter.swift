import ToolboxAMQP

/// Reads the starting position from an Event Hubs consumer's selector filter, e.g.
/// `amqp.annotation.x-opt-offset > '-1'`, `amqp.annotation.x-opt-sequence-number >= '42'`,
/// `amqp.annotation.x-opt-enqueued-time > '1700000000000'`. No filter means the latest position.
enum SelectorFilter {
    static let descriptor = AMQPValue.symbol("apache.org:selector-filter:string")

    static func startingPosition(from filter: AMQPMap?) -> StartingPosition? {
        guard let filter else { return .latest }
        var expression: String?
        for entry in filter.entries {
            switch entry.value {
            case .described(let descriptor, .string(let text))
                where descriptor == SelectorFilter.descriptor || descriptor == .ulong(0x0000_468C_0000_0004):
                expression = text
            case .string(let text) where entry.key == SelectorFilter.descriptor:
                expression = text
            default: continue
            }
        }
        guard let expression else { return .latest }
        return parse(expression)
    }

    static func parse(_ expression: String) -> StartingPosition? {
        let parts = expression.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        let field = parts[0].lowercased()
        let inclusive: Bool
        switch parts[1] {
        case ">": inclusive = false
        case ">=": inclusive = true
        default: return nil
        }
        let value = parts[2].trimmingCharacters(in: ["'", "\""])
        switch field {
        case "amqp.annotation.x-opt-offset":
            if value == "@latest" { return .latest }
            guard let offset = Int64(value) else { return nil }
            return offset < 0 ? .earliest : .offset(offset, inclusive: inclusive)
        case "amqp.annotation.x-opt-sequence-number":
            guard let number = Int64(value) else { return nil }
            return number < 0 && !inclusive ? .earliest : .sequenceNumber(number, inclusive: inclusive)
        case "amqp.annotation.x-opt-enqueued-time":
            guard let time = Int64(value) else { return nil }
            return .enqueuedTime(time, inclusive: inclusive)
        default:
            return nil
        }
    }
}

private extension Substring {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
