"""Shared helpers for the interop scenarios: connection strings from the environment, checks, and a runner."""
import os
import sys
import traceback

EH_CONN = os.environ["EH_CONN"]  # Event Hubs connection string with EntityPath
SB_CONN = os.environ["SB_CONN"]  # Service Bus namespace connection string
EH_NAME = os.environ.get("EH_NAME", "eh1")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def wrong_key(connection_string):
    parts = [p for p in connection_string.split(";") if p]
    return ";".join("SharedAccessKey=not-the-emulator-key" if p.startswith("SharedAccessKey=") else p for p in parts)


def run(scenarios):
    """Runs each (name, function); prints one line per scenario; exits 1 if any failed."""
    failed = 0
    for name, function in scenarios:
        try:
            function()
            print(f"PASS {name}", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and keep going
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
    sys.exit(1 if failed else 0)
