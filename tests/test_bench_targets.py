"""`make bench`'s verdict on the issue's targets (bench/run.py `targets`): met or short on the
median of the repeats, and for a ratio what it leaves each request against what a request cost."""

from __future__ import annotations

from typing import Any

from tests.conftest import load_bench_script

run = load_bench_script("run")


def _row(scenario: str, ratio: float, floor: float, api_us: float, pg_us: float = 0.0, **extra: Any) -> dict:
    return {
        "scenario": scenario,
        "concurrency": 32,
        "server": "uvicorn",
        "floor": floor,
        "ratio": ratio,
        "throughput": ratio * floor,
        "p99_us": 40_000.0,
        "errors": 0,
        "cpu_us": {"api": api_us, "postgres": pg_us},
        **extra,
    }


def _results(db: str, *rows: dict) -> dict:
    return {"db": db, "servers": ["uvicorn"], "cpus": 2, "floor": {"32": {}}, "runs": list(rows)}


def _line(lines: list[str], start: str) -> list[str]:
    [line] = [line for line in lines if line.startswith(f"| {start} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_ratio_target_shows_the_cpu_and_the_writer_time_it_leaves_each_request() -> None:
    # SQLite, createOrder at 0.08: 1,600 orders/s of a 20,000 floor, 1,440 of 18,000: 2 cores leave
    # 1,250 and 1,389 µs per order (median 1,319), the one writer 0.625 and 0.694 ms (median 0.66)
    writer = {"busy": 0.99, "per_commit": 13.0}
    lines = run.targets(
        _results(
            "sqlite",
            _row("create", 0.034, 20_000, 1_300, writer={**writer, "ms_per_write": 0.90}),
            _row("create", 0.040, 18_000, 1_500, writer={**writer, "ms_per_write": 1.00}),
            _row("stock", 0.35, 20_000, 250),
            _row("mix", 0.20, 20_000, 300, writer={**writer, "ms_per_write": 0.90}),
        )
    )
    assert _line(lines, "create ratio") == [
        "create ratio",
        ">= 0.08",
        "0.037",
        "0.034 - 0.040",
        "SHORT",
        "CPU 1,319 / 1,400 µs, writer 0.66 / 0.95 ms",
    ]
    assert _line(lines, "create p99")[-1] == ""  # a latency target leaves no per-request budget
    # a read writes nothing: its budget is CPU alone (2 cores at 0.30 of 20,000: 333 µs)
    assert _line(lines, "stock ratio")[-2:] == ["met", "CPU 333 / 250 µs"]
    # the mix's writes are a few of its requests: the writer's time per request is no budget there
    assert _line(lines, "mix ratio")[-2:] == ["met", "CPU 667 / 300 µs"]


def test_postgresql_counts_its_own_cpu_in_what_a_request_cost() -> None:
    lines = run.targets(_results("postgres", _row("create", 0.013, 25_000, 2_900, 1_800)))
    # 2 cores at 0.04 of 25,000 (1,000 orders/s): 2,000 µs per order; used 2,900 + 1,800
    assert _line(lines, "create ratio")[-1] == "CPU 2,000 / 4,700 µs"
