#!/usr/bin/env python3
"""Keeps the lines of a serial log that make sim-batch and make sim-migrate
replay: hv's trace_batch / trace_migrate events (boot option trace=batch,
trace=migrate or both) and the net_stats / migrate_done events with the
run's own figures, one JSON object a line.

    python3 tools/trace_extract.py build/run/serial.log > my.jsonl
"""
import re
import sys

KEEP = ("trace_batch", "trace_batch_cut", "trace_migrate", "net_stats", "migrate_done")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: trace_extract.py SERIAL_LOG > TRACE.jsonl")
    n = 0
    for line in open(sys.argv[1], errors="replace"):
        m = re.match(r'^@ (\{"ev":"([a-z_]+)".*\})\r?$', line)
        if m and m.group(2) in KEEP:
            print(m.group(1))
            n += 1
    if not n:
        sys.exit("%s: no trace events: boot hv with trace=batch or trace=migrate" % sys.argv[1])


if __name__ == "__main__":
    main()
