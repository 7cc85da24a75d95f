"""Markdown table (stdout) and PNG plot from scripts/compare.sh's JSON lines; judges issue 8's goals.

    python scripts/compare-report.py docs/performance/compare.jsonl [--plot docs/performance/compare.png]
"""
import argparse
import json


def load(path):
    with open(path) as handle:
        return {row["case"]: row["result"] for row in map(json.loads, filter(str.strip, handle))}


def fmt(value, unit=""):
    if value is None:
        return "—"
    if isinstance(value, float) and value < 10:
        return f"{value:.3g}{unit}"
    return f"{value:,.0f}{unit}"


LABELS = {
    "swift_eh_batch100_c1": "Swift Event Hubs batch (100 per batch), events/s, 1 caller; latency per batch",
    "swift_eh_batch100_c8": "Swift Event Hubs batch (100 per batch), events/s, 8 callers; latency per batch",
    "python_eh_batch100_c1": "Python send_events_batch (100 per batch), events/s, 1 caller; latency per batch",
    "python_eh_batch100_c8": "Python send_events_batch (100 per batch), events/s, 8 callers; latency per batch",
    "swift_sb_receive": "Swift Service Bus receive+complete, messages/s; latency per message",
    "python_sb_receive": "Python get_receiver() receive+complete, messages/s; latency per message",
}


def table(r):
    rows = [("case", "events/s", "p50 ms", "p99 ms", "mean ms", "CPU µs/event", "connections", "errors")]
    for name, result in r.items():
        if "idle" in name:
            continue
        rate = result.get("events_per_sec", result.get("messages_per_sec", result.get("round_trips_per_sec")))
        cpu = result.get("cpu_us_per_event", result.get("cpu_us_per_message"))
        rows.append((LABELS.get(name, name), fmt(rate), fmt(result.get("p50_ms")), fmt(result.get("p99_ms")),
                     fmt(result.get("mean_ms")), fmt(cpu), fmt(result.get("connections")), fmt(result.get("errors"))))
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def goals(r):
    out = ["| goal | measured | target | met |", "| --- | --- | --- | --- |"]

    def add(goal, value, target, met):
        out.append(f"| {goal} | {value} | {target} | {'yes' if met else 'no'} |")

    def get(case, key):
        return r.get(case, {}).get(key)

    floor, p50 = get("tcp_pingpong", "p50_ms"), get("swift_eh_c1", "p50_ms")
    if floor and p50:
        ratio = p50 / floor
        add("pooled single-event send p50 vs loopback TCP ping-pong", f"{p50:.3f} ms / {floor:.4f} ms = {ratio:.1f}×",
            "≤ 3×", ratio <= 3)
    swift64, python64 = get("swift_eh_c64", "events_per_sec"), get("python_eh_c64", "events_per_sec")
    if swift64 and python64:
        ratio = swift64 / python64
        add("Event Hubs, 64 senders: Swift / Python events/s", f"{swift64:,.0f} / {python64:,.0f} = {ratio:.1f}×",
            "≥ 20×", ratio >= 20)
    batch, single = get("swift_eh_batch100_c1", "events_per_sec"), get("swift_eh_c1", "events_per_sec")
    if batch and single:
        add("Event Hubs, 1 caller: batches of 100 / single sends, events/s (Swift)",
            f"{batch:,.0f} / {single:,.0f} = {batch / single:.1f}×", "reported", True)
    for callers in ("c1", "c8"):
        ours, theirs = get(f"swift_eh_batch100_{callers}", "events_per_sec"), get(f"python_eh_batch100_{callers}", "events_per_sec")
        if ours and theirs:
            add(f"Event Hubs batches of 100, {callers[1:]} caller(s): Swift / Python events/s",
                f"{ours:,.0f} / {theirs:,.0f} = {ours / theirs:.1f}×", "≥ 20× (issue 20)", ours / theirs >= 20)
    received, python_received = get("swift_sb_receive", "messages_per_sec"), get("python_sb_receive", "messages_per_sec")
    if received and python_received:
        add("Service Bus receive+complete: Swift / Python messages/s",
            f"{received:,.0f} / {python_received:,.0f} = {received / python_received:.1f}× (errors: "
            f"{get('swift_sb_receive', 'errors')} / {get('python_sb_receive', 'errors')})", "≥ 20×, no errors (issue 20)",
            received / python_received >= 20 and not get("swift_sb_receive", "errors")
            and not get("python_sb_receive", "errors"))
    elif received:
        add("Service Bus receive+complete (Swift)", f"{received:,.0f} messages/s, p50 "
            f"{fmt(get('swift_sb_receive', 'p50_ms'))} ms per message, {get('swift_sb_receive', 'errors')} errors",
            "reported", not get("swift_sb_receive", "errors"))
    sb, sbpy = get("swift_sb_c64_scheduled", "events_per_sec"), get("python_sb_c64", "events_per_sec")
    if get("python_sb_c64", "errors"):
        add("Service Bus send_message (schedule), 64 senders: Swift / Python", "not comparable: the Python run had "
            f"{get('python_sb_c64', 'errors')} time-outs against the emulator", "(≥ 20×)", False)
    elif sb and sbpy:
        ratio = sb / sbpy
        add("Service Bus send_message (schedule), 64 senders: Swift / Python", f"{sb:,.0f} / {sbpy:,.0f} = {ratio:.1f}×",
            "(≥ 20×)", ratio >= 20)
    for service in ("eh", "sb"):
        cold, pooled = get(f"cold_{service}_delay800", "mean_ms"), get(f"pooled_{service}_delay800", "mean_ms")
        if cold and pooled:
            ratio = cold / pooled
            add(f"{'Event Hubs' if service == 'eh' else 'Service Bus'}, 800 ms connect delay: cold / pooled per op",
                f"{cold:,.1f} ms / {pooled:.3f} ms = {ratio:,.0f}×", "≥ 100×", ratio >= 100)
    for kind in ("plain", "tls"):
        m = r.get(f"idle_memory_{kind}")
        if m:
            kb = m["kb_per_idle_connection"]
            add(f"memory per idle pooled connection ({kind.upper() if kind == 'tls' else kind})",
                f"{kb} KB (RSS delta over {m['idle_connections']} connections)",
                "≤ 48 KB (issue 20)" if kind == "tls" else "reported", kb <= 48 if kind == "tls" else True)
    return "\n".join(out)


def plot(r, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib not available: no plot at {path})")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    names = [("tcp_pingpong", "TCP ping-pong\n(floor)"), ("swift_eh_c1", "Swift EH\npooled"),
             ("python_eh_c1", "Python EH\npooled"), ("pooled_eh_delay800", "Swift EH pooled\n800 ms delay")]
    shown = [(label, r[c]["p50_ms"]) for c, label in names if r.get(c, {}).get("p50_ms")]
    left.bar([s[0] for s in shown], [s[1] for s in shown], color=["grey", "tab:orange", "tab:blue", "tab:orange"][:len(shown)])
    left.set_yscale("log")
    left.set_ylabel("p50 latency, ms (log)")
    left.set_title("One send, one caller")
    names = [("swift_eh_c64", "Swift EH"), ("python_eh_c64", "Python EH"), ("swift_eh_c64_tls", "Swift EH TLS"),
             ("swift_sb_c64_scheduled", "Swift SB\nschedule"), ("python_sb_c64", "Python SB\nschedule")]
    shown = [(label, r[c]["events_per_sec"]) for c, label in names if r.get(c, {}).get("events_per_sec")]
    right.bar([s[0] for s in shown], [s[1] for s in shown],
              color=["tab:orange" if s[0].startswith("Swift") else "tab:blue" for s in shown])
    right.set_ylabel("events / s")
    right.set_title("Concurrent senders (64)")
    fig.suptitle("AzureClientsToolbox (Swift) vs aio-azure-clients-toolbox 1.5.0, one run, toolbox emulator")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--plot")
    args = parser.parse_args()
    results = load(args.results)
    print(table(results))
    print()
    print(goals(results))
    if args.plot:
        plot(results, args.plot)
