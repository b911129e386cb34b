"""Group commit: shared transactions, isolated failures, answers only after commit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from resell.db.group_commit import GroupCommitter
from resell.db.tables import publishers


def _insert(key: str):
    def job(conn):
        conn.execute(publishers.insert().values(key=key, name=key, delivers_directly=False))
        return key

    return job


def _count(ctx) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(publishers)).scalar_one()


def test_concurrent_jobs_share_batches_and_all_commit(ctx) -> None:
    committer = GroupCommitter(ctx.db)
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda i: committer.run(_insert(f"p{i}")), range(200)))
    finally:
        committer.close()
    assert sorted(results) == sorted(f"p{i}" for i in range(200))
    assert _count(ctx) == 200
    assert committer.jobs_done == 200
    assert committer.batches < 200  # some jobs really shared a commit


def test_a_failing_job_rolls_back_alone(ctx) -> None:
    committer = GroupCommitter(ctx.db)
    release = threading.Event()

    def blocker(conn):
        release.wait(5)  # holds the writer so the next jobs queue up into one batch
        return "blocker"

    def failing(conn):
        conn.execute(publishers.insert().values(key="doomed", name="doomed", delivers_directly=False))
        raise ValueError("refused")

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            first = pool.submit(committer.run, blocker)
            while committer._jobs.qsize() or not first.running():
                pass
            good = pool.submit(committer.run, _insert("kept"))
            bad = pool.submit(committer.run, failing)
            release.set()
            assert first.result() == "blocker"
            assert good.result() == "kept"
            with pytest.raises(ValueError, match="refused"):
                bad.result()
    finally:
        committer.close()
    with ctx.db.read() as conn:
        keys = set(conn.execute(select(publishers.c.key)).scalars())
    assert keys == {"kept"}


def test_a_failed_shared_commit_retries_each_job_alone(ctx) -> None:
    committer = GroupCommitter(ctx.db)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(committer.run, _insert("same")) for _ in range(8)]
            outcomes = []
            for f in futures:
                try:
                    outcomes.append(f.result())
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(type(exc).__name__)
    finally:
        committer.close()
    assert outcomes.count("same") == 1  # the unique key lets exactly one in
    assert _count(ctx) == 1


def test_group_commit_does_not_import_the_engine() -> None:
    """The committer needs only a protocol of the database (WriteTarget): no import cycle with the engine."""
    import subprocess
    import sys

    code = "import sys, resell.db.group_commit; assert 'resell.db.engine' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
