@testable import ConnectionPooling
import XCTest

final class IndexedMinHeapTests: XCTestCase {
    final class Item: HeapIndexed {
        var key: Int
        let id: Int
        var heapIndex: Int?
        init(key: Int, id: Int) { self.key = key; self.id = id }
    }

    func testRandomInsertsUpdatesAndRemovalsKeepOrderAgainstAReference() {
        var generator = SystemRandomNumberGenerator()
        var heap = IndexedMinHeap<Item>(by: { ($0.key, $0.id) < ($1.key, $1.id) })
        var live: [Item] = []
        for step in 0..<5_000 {
            switch Int.random(in: 0..<4, using: &generator) {
            case 0, 1:
                let item = Item(key: Int.random(in: 0..<50, using: &generator), id: step)
                heap.insert(item)
                live.append(item)
            case 2 where !live.isEmpty:
                let item = live.randomElement(using: &generator)!
                item.key = Int.random(in: 0..<50, using: &generator)
                heap.update(item)
            case 3 where !live.isEmpty:
                let index = Int.random(in: 0..<live.count, using: &generator)
                heap.remove(live[index])
                XCTAssertNil(live[index].heapIndex)
                live.remove(at: index)
            default:
                break
            }
            XCTAssertTrue(heap.isValid(), "heap broken at step \(step)")
            let expected = live.min { ($0.key, $0.id) < ($1.key, $1.id) }
            XCTAssertTrue(heap.min === expected, "wrong minimum at step \(step)")
        }
        var previous: Item?
        while let item = heap.popMin() {
            if let previous { XCTAssertTrue((previous.key, previous.id) < (item.key, item.id)) }
            previous = item
        }
        XCTAssertTrue(heap.isEmpty)
    }

    func testFIFOQueueKeepsOrderAcrossCompaction() {
        var queue = FIFOQueue<Int>()
        var expected = 0
        for i in 0..<1_000 {
            queue.push(i)
            if i % 3 == 0 {
                XCTAssertEqual(queue.pop(), expected)
                expected += 1
            }
        }
        XCTAssertEqual(queue.count, 1_000 - expected)
        let rest = queue.drain()
        XCTAssertEqual(rest, Array(expected..<1_000))
        XCTAssertTrue(queue.isEmpty)
    }
}
