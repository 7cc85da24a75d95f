/// An element that remembers where it sits in an `IndexedMinHeap`, so its key can change in O(log n).
protocol HeapIndexed: AnyObject {
    var heapIndex: Int? { get set }
}

/// A binary min-heap of objects that track their own position.
///
/// `update(_:)` restores order after an element's key changed in place and `remove(_:)` takes out any element,
/// both in O(log n): the pool re-keys a connection on every lease and return without re-heapifying.
/// Not thread-safe: the pool calls it with its lock held.
struct IndexedMinHeap<Element: HeapIndexed> {
    private(set) var storage: [Element] = []
    private let areInIncreasingOrder: (Element, Element) -> Bool

    init(by areInIncreasingOrder: @escaping (Element, Element) -> Bool) {
        self.areInIncreasingOrder = areInIncreasingOrder
    }

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }
    var min: Element? { storage.first }

    mutating func insert(_ element: Element) {
        precondition(element.heapIndex == nil, "element is already in a heap")
        storage.append(element)
        element.heapIndex = storage.count - 1
        siftUp(storage.count - 1)
    }

    /// Restores heap order after `element`'s key changed.
    mutating func update(_ element: Element) {
        guard let index = element.heapIndex else { return }
        if !siftUp(index) { siftDown(index) }
    }

    mutating func remove(_ element: Element) {
        guard let index = element.heapIndex else { return }
        let last = storage.count - 1
        if index != last {
            swapAt(index, last)
        }
        storage.removeLast()
        element.heapIndex = nil
        if index < storage.count {
            update(storage[index])
        }
    }

    @discardableResult
    mutating func popMin() -> Element? {
        guard let first = storage.first else { return nil }
        remove(first)
        return first
    }

    /// Checks the heap property and the stored indices; for tests.
    func isValid() -> Bool {
        for (index, element) in storage.enumerated() {
            if element.heapIndex != index { return false }
            let left = 2 * index + 1
            let right = left + 1
            if left < storage.count, areInIncreasingOrder(storage[left], element) { return false }
            if right < storage.count, areInIncreasingOrder(storage[right], element) { return false }
        }
        return true
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        storage.swapAt(i, j)
        storage[i].heapIndex = i
        storage[j].heapIndex = j
    }

    @discardableResult
    private mutating func siftUp(_ start: Int) -> Bool {
        var index = start
        while index > 0 {
            let parent = (index - 1) / 2
            guard areInIncreasingOrder(storage[index], storage[parent]) else { break }
            swapAt(index, parent)
            index = parent
        }
        return index != start
    }

    private mutating func siftDown(_ start: Int) {
        var index = start
        while true {
            let left = 2 * index + 1
            guard left < storage.count else { return }
            let right = left + 1
            var smallest = left
            if right < storage.count, areInIncreasingOrder(storage[right], storage[left]) { smallest = right }
            guard areInIncreasingOrder(storage[smallest], storage[index]) else { return }
            swapAt(index, smallest)
            index = smallest
        }
    }
}
