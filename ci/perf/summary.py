"""Summarises a ci/perf/compare.sh run: each metric per server and REChain's ratio to Synapse
on the same database. Usage: python3 summary.py DIR"""
import json
import sys
from pathlib import Path

# (label, scenario, path within it, higher is better)
METRICS = [
    ("registrations/s", "registrations", ["per_second"], True),
    ("joins/s", "joins", ["per_second"], True),
    ("messages/s", "messages", ["per_second"], True),
    ("send latency p50 ms", "messages", ["send_latency", "p50_ms"], False),
    ("send latency p99 ms", "messages", ["send_latency", "p99_ms"], False),
    ("delivery latency p50 ms", "delivery", ["delivery_latency", "p50_ms"], False),
    ("delivery latency p99 ms", "delivery", ["delivery_latency", "p99_ms"], False),
    ("initial sync p50 ms", "initial_sync", ["initial_sync", "p50_ms"], False),
    ("newcomer join + first sync ms", "newcomer", ["join_plus_first_sync_ms"], False),
    ("newcomer (lazy members) ms", "newcomer_lazy", ["join_plus_first_sync_ms"], False),
    ("/messages page of 100, p50 ms", "pagination", ["page", "p50_ms"], False),
    ("server CPU ms per message", "messages", ["server_cpu_ms_per_op"], False),
    ("server peak RSS MiB", None, ["server_memory_kib", "peak"], False),
]


def get(report, scenario, path):
    value = report if scenario is None else report["scenarios"].get(scenario, {})
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if path[-1] == "peak":
        value = value / 1024
    return value


def main(directory):
    runs = {p.stem: json.loads(p.read_text()) for p in Path(directory).glob("*.json")}
    names = ["rechain-sqlite", "synapse-sqlite", "rechain-postgres", "synapse-postgres"]
    print("| metric | " + " | ".join(names) + " | ratio (SQLite) | ratio (PostgreSQL) |")
    print("|---" * (len(names) + 3) + "|")
    for label, scenario, path, higher in METRICS:
        values = [get(runs[n], scenario, path) if n in runs else None for n in names]
        cells = ["–" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v) for v in values]
        ratios = []
        for ours, theirs in ((values[0], values[1]), (values[2], values[3])):
            if not ours or not theirs:
                ratios.append("–")
            else:
                ratio = ours / theirs if higher else theirs / ours
                ratios.append(f"{ratio:.1f}×")
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    sizes = next(iter(runs.values()))["sizes"] if runs else {}
    print(f"\nSizes: {json.dumps(sizes)}. Ratios are REChain's advantage (>1 is better).")


if __name__ == "__main__":
    main(sys.argv[1])
