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


def test_jobs_that_arrive_while_another_process_writes_join_one_batch(tmp_path) -> None:
    """The batch is gathered once the turn is this process's: the jobs queued while another
    process held it share one commit with the job that was waiting for it (SQLite's file lock)."""
    import time

    from resell.db.engine import Database

    url = f"sqlite:///{tmp_path / 'turns.db'}"
    db, other_process = Database(url), Database(url)  # two open files of the lock: as two processes
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    reported: list[tuple[int, float, float]] = []
    committer = GroupCommitter(db, on_batch=lambda *figures: reported.append(figures))

    def insert(i: int):
        def job(conn):
            conn.exec_driver_sql(f"INSERT INTO t VALUES ({i})")
            return i

        return job

    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            with other_process.writer_turn():
                futures = [pool.submit(committer.run, insert(i)) for i in range(10)]
                deadline = time.monotonic() + 10
                while committer._jobs.qsize() < 9:  # the first is taken, waiting for the turn
                    assert time.monotonic() < deadline, "the jobs never queued"
                    time.sleep(0.01)
                time.sleep(0.2)  # the turn held a while longer: the batch's wait counts it
            assert sorted(f.result(timeout=10) for f in futures) == list(range(10))
    finally:
        committer.close()
        db.dispose()
        other_process.dispose()
    assert committer.batches == 1
    assert committer.jobs_done == 10
    ((jobs, waited, held),) = reported  # one batch, told once its commit is done
    assert jobs == 10
    assert 0.2 <= waited < 10
    assert 0 < held < waited


def test_a_turn_that_cannot_be_taken_fails_the_jobs_instead_of_leaving_them_waiting(ctx) -> None:
    """The lock file cannot be opened (a full disk, a wrong mode): the callers get the error."""
    from contextlib import contextmanager

    class NoTurn:
        @contextmanager
        def writer_turn(self):
            raise PermissionError("writer.lock: permission denied")
            yield

        def write(self):
            return ctx.db.write()

    committer = GroupCommitter(NoTurn())
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(committer.run, _insert("never"))
            with pytest.raises(PermissionError, match="permission denied"):
                future.result(timeout=10)
    finally:
        committer.close()
    assert _count(ctx) == 0
