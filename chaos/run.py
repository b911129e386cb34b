"""`make chaos`: the crash and race suite, on SQLite and PostgreSQL.

crash: `resell serve --workers 2` and `resell worker` run as in production under a createOrder +
cancelOrder + renewal load of several client threads; they are SIGKILLed at random moments (the whole
API process group, one uvicorn worker, or the worker) and restarted, --kills times. Then the outbox is
drained and every invariant is checked: acknowledged orders exist and are whole (their serials are the
ones the reply gave), cancels took, no serial is assigned twice or lost, every renewal happened once,
every outbox event was delivered, and a loopback webhook receiver got every webhook at least once, any
repeat with the same webhook-id and body.

race: 64 clients released by a barrier race for products of 5, 10 and 20 serials across two separately
started `resell serve` processes, round after round: no oversell, no serial twice, no 5xx.

    python chaos/run.py [--db sqlite|postgres|both] [--phase crash|race|all] [--kills 20] [--rounds 10]

PostgreSQL: a private database on RESELL_CHAOS_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
created for the run and dropped after. Exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chaos import crash, race  # noqa: E402
from chaos.harness import log  # noqa: E402


def show(title: str, result: dict[str, Any]) -> bool:
    print(f"\n=== {title} ({result['seconds']} s) ===")
    for key, value in result["facts"].items():
        if isinstance(value, list):
            print(f"  {key}:")
            for item in value:
                print(f"    {item}")
        else:
            print(f"  {key}: {json.dumps(value) if isinstance(value, dict) else value}")
    ok = True
    for name, failures in result["checks"].items():
        print(f"  [{'PASS' if not failures else 'FAIL'}] {name}")
        for failure in failures[:10]:
            print(f"         {failure}")
        if len(failures) > 10:
            print(f"         ... and {len(failures) - 10} more")
        ok = ok and not failures
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--phase", choices=["crash", "race", "all"], default="all")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per database in the crash phase")
    parser.add_argument("--clients", type=int, default=6, help="load threads in the crash phase")
    parser.add_argument("--think", default="0.1,0.4", help="seconds each load thread waits between calls: MIN,MAX")
    parser.add_argument("--gap", default="1,3", help="seconds between kills: MIN,MAX (after each restart)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of 64 racers in the race phase")
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs, SQLite files)")
    args = parser.parse_args()
    gap_min, gap_max = (float(x) for x in args.gap.split(","))
    think_min, think_max = (float(x) for x in args.think.split(","))
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    phases = ["crash", "race"] if args.phase == "all" else [args.phase]

    started = time.monotonic()
    all_ok = True
    summary = []
    for db in dbs:
        for phase in phases:
            workdir = Path(tempfile.mkdtemp(prefix=f"resell-chaos-{phase}-{db}-"))
            log(f"{phase} on {db} in {workdir}")
            if phase == "crash":
                result = crash.run(db, args.kills, args.clients, (gap_min, gap_max), (think_min, think_max), workdir)
            else:
                result = race.run(db, args.rounds, workdir)
            ok = show(f"{phase} / {db}", result)
            all_ok = all_ok and ok
            summary.append(f"{phase:5} {db:8} {'PASS' if ok else 'FAIL'}  {result['seconds']:6.1f} s")
            if ok and not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                print(f"  (logs kept in {workdir})")
    print("\n=== summary ===")
    for line in summary:
        print("  " + line)
    print(f"  wall time {time.monotonic() - started:.0f} s: {'ALL PASS' if all_ok else 'FAILED'}")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
