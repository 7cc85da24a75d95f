"""azure-servicebus against the emulator: send, batch, schedule/cancel, peek-lock settlement, DLQ, defer,
renew-lock, peek, receive-and-delete."""
import datetime
import uuid

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode, ServiceBusSubQueue

from common import SB_CONN, check, run

RUN = uuid.uuid4().hex[:8]


def queue(name):
    return f"{name}-{RUN}"


def client():
    return ServiceBusClient.from_connection_string(SB_CONN)


def receive(receiver, count, wait=5):
    messages = []
    for _ in range(10):
        messages += receiver.receive_messages(max_message_count=count - len(messages), max_wait_time=wait)
        if len(messages) >= count:
            break
    return messages


def send_batch_schedule_cancel():
    name = queue("send")
    with client() as sb, sb.get_queue_sender(name) as sender:
        sender.send_messages(ServiceBusMessage("one", application_properties={"k": "v", "n": 3},
                                               message_id="mid-1", subject="subj", content_type="text/plain"))
        sender.send_messages([ServiceBusMessage("two"), ServiceBusMessage("three")])
        batch = sender.create_message_batch()
        check(batch.max_size_in_bytes == 1048576, f"batch max size: {batch.max_size_in_bytes}")
        batch.add_message(ServiceBusMessage("four"))
        batch.add_message(ServiceBusMessage("five"))
        sender.send_messages(batch)
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        numbers = sender.schedule_messages([ServiceBusMessage("later-1"), ServiceBusMessage("later-2")], later)
        check(len(numbers) == 2 and all(isinstance(n, int) for n in numbers), f"sequence numbers: {numbers}")
        sender.cancel_scheduled_messages(numbers[:1])
        soon = datetime.datetime.now(datetime.timezone.utc)
        sender.schedule_messages(ServiceBusMessage("due-now"), soon)
        with sb.get_queue_receiver(name) as receiver:
            got = receive(receiver, 6)
            bodies = [str(m) for m in got]
            check(bodies == ["one", "two", "three", "four", "five", "due-now"], f"received {bodies}")
            first = got[0]
            check(first.application_properties[b"k"] == b"v" or first.application_properties.get("k") == "v",
                  f"application properties: {first.application_properties}")
            check(first.message_id == "mid-1" and first.subject == "subj", "properties kept")
            check(first.sequence_number is not None and first.locked_until_utc is not None, "annotations")
            check(first.delivery_count == 0, f"delivery count {first.delivery_count}")
            for message in got:
                receiver.complete_message(message)
            peeked = receiver.peek_messages(max_message_count=10, sequence_number=1)
            check([str(m) for m in peeked] == ["later-2"], f"only the uncancelled scheduled message remains: {[str(m) for m in peeked]}")


def abandon_dead_letter_defer_renew():
    name = queue("settle")
    with client() as sb:
        with sb.get_queue_sender(name) as sender:
            sender.send_messages([ServiceBusMessage("abandon-me"), ServiceBusMessage("dead-letter-me"),
                                  ServiceBusMessage("defer-me")])
        with sb.get_queue_receiver(name) as receiver:
            got = {str(m): m for m in receive(receiver, 3)}
            check(set(got) == {"abandon-me", "dead-letter-me", "defer-me"}, f"received {sorted(got)}")
            before = got["abandon-me"].locked_until_utc
            renewed = receiver.renew_message_lock(got["abandon-me"])
            check(renewed >= before, f"renewed lock {renewed} >= {before}")
            receiver.abandon_message(got["abandon-me"])
            again = receive(receiver, 1)
            check([str(m) for m in again] == ["abandon-me"], f"abandoned message redelivered: {[str(m) for m in again]}")
            check(again[0].delivery_count == 1, f"delivery count after abandon: {again[0].delivery_count}")
            receiver.complete_message(again[0])
            receiver.dead_letter_message(got["dead-letter-me"], reason="bad-data", error_description="could not parse")
            deferred_number = got["defer-me"].sequence_number
            receiver.defer_message(got["defer-me"])
            deferred = receiver.receive_deferred_messages([deferred_number])
            check([str(m) for m in deferred] == ["defer-me"], "deferred message received by sequence number")
            receiver.complete_message(deferred[0])
            check(receiver.peek_messages(max_message_count=10, sequence_number=1) == [], "queue empty after settling")
        with sb.get_queue_receiver(name, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
            dead = receive(dlq, 1)
            check([str(m) for m in dead] == ["dead-letter-me"], f"dead-letter queue: {[str(m) for m in dead]}")
            check(dead[0].dead_letter_reason == "bad-data", f"reason: {dead[0].dead_letter_reason}")
            check(dead[0].dead_letter_error_description == "could not parse", "error description")
            check(dead[0].dead_letter_source == name, f"source: {dead[0].dead_letter_source}")
            dlq.complete_message(dead[0])


def receive_and_delete():
    name = queue("rnd")
    with client() as sb:
        with sb.get_queue_sender(name) as sender:
            sender.send_messages([ServiceBusMessage("gone-1"), ServiceBusMessage("gone-2")])
        with sb.get_queue_receiver(name, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
            got = receive(receiver, 2)
            check([str(m) for m in got] == ["gone-1", "gone-2"], f"received {[str(m) for m in got]}")
        with sb.get_queue_receiver(name) as receiver:
            check(receiver.peek_messages(max_message_count=10, sequence_number=1) == [], "receive-and-delete removed the messages")


def topic_fan_out():
    topic = f"topic-{RUN}"
    with client() as sb:
        with sb.get_subscription_receiver(topic, "a") as first, sb.get_subscription_receiver(topic, "b") as second:
            with sb.get_topic_sender(topic) as sender:
                sender.send_messages(ServiceBusMessage("fan-out"))
            for receiver in (first, second):
                got = receive(receiver, 1)
                check([str(m) for m in got] == ["fan-out"], f"subscription got {[str(m) for m in got]}")
                receiver.complete_message(got[0])


run([
    ("servicebus: send, batch, schedule and cancel, peek", send_batch_schedule_cancel),
    ("servicebus: topic copies to every subscription", topic_fan_out),
    ("servicebus: abandon, dead-letter, defer, receive-deferred, renew-lock", abandon_dead_letter_defer_renew),
    ("servicebus: receive-and-delete", receive_and_delete),
])
