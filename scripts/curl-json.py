"""Runs curl once and prints the transfer as one JSON line with the keys of `toolbox bench blob`: operation, size,
mb_per_sec, seconds, errors, max_rss_mb (curl's own peak RSS, from getrusage of the finished child).

    python3 scripts/curl-json.py upload|download SIZE -- CURL-ARGUMENTS...

curl with OpenSSL is the floor for moving bytes over one HTTPS connection on this machine. Exit status 1 when
curl fails or the server answers outside 2xx.
"""
import json
import resource
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    operation, size, arguments = sys.argv[1], int(sys.argv[2]), sys.argv[4:]
    began = time.perf_counter()
    completed = subprocess.run(["curl", "-sS", "-w", "%{http_code} %{size_upload} %{size_download}"] + arguments,
                               capture_output=True, text=True)
    seconds = time.perf_counter() - began
    fields = completed.stdout.split()[-3:] if completed.stdout else ["0", "0", "0"]
    status, uploaded, downloaded = int(fields[0]), float(fields[1]), float(fields[2])
    moved = uploaded if operation == "upload" else downloaded
    failed = completed.returncode != 0 or not 200 <= status < 300 or int(moved) != size
    if failed:
        print(f"curl: exit {completed.returncode}, HTTP {status}, {int(moved)} of {size} bytes: "
              f"{completed.stderr.strip()}", file=sys.stderr)
    print(json.dumps({
        "client": "curl", "operation": operation, "size": size, "count": 1, "errors": int(failed),
        "mb_per_sec": round(moved / 1e6 / seconds, 1) if seconds > 0 else 0.0, "seconds": round(seconds, 3),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
