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

        def write(self, sync=True):
            return ctx.db.write(sync)

        def sync_log(self):
            raise AssertionError("nothing was written")

    committer = GroupCommitter(NoTurn())
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(committer.run, _insert("never"))
            with pytest.raises(PermissionError, match="permission denied"):
                future.result(timeout=10)
    finally:
        committer.close()
    assert _count(ctx) == 0


class _FlushHeld:
    """A real SQLite database whose log flush (`sync_log`) waits until the test lets it go."""

    def __init__(self, db):
        self.db = db
        self.flushing, self.go, self.flushed = threading.Event(), threading.Event(), threading.Event()
        self.error: Exception | None = None

    def writer_turn(self):
        return self.db.writer_turn()

    def write(self, sync=True):
        return self.db.write(sync)

    def sync_log(self):
        self.flushing.set()
        assert self.go.wait(10)
        if self.error is not None:
            raise self.error
        self.db.sync_log()
        self.flushed.set()


def _two_processes(tmp_path):
    """Two Databases on one SQLite file, each with its own lock file handle: as two API processes."""
    from resell.db.engine import Database

    url = f"sqlite:///{tmp_path / 'flush.db'}"
    db, other_process = Database(url), Database(url)
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    return db, other_process


def test_a_caller_hears_of_its_commit_only_once_the_log_is_flushed_after_the_turn(tmp_path) -> None:
    """The batch commits without waiting for the disk, gives the writer back, then flushes the log:
    the other processes write during the flush, and nobody is answered before it is done."""
    db, other_process = _two_processes(tmp_path)
    held = _FlushHeld(db)
    committer = GroupCommitter(held)

    def job(conn):
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        return "written"

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(committer.run, job)
            assert held.flushing.wait(10)
            with other_process.writer_turn():  # the turn is free during the flush
                with other_process.write() as conn:  # and the commit is there for the others
                    assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
                    conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            assert not future.done()  # not answered before the flush
            held.go.set()
            assert future.result(timeout=10) == "written"
            assert held.flushed.is_set()
    finally:
        held.go.set()
        committer.close()
        db.dispose()
        other_process.dispose()


def test_a_failed_flush_fails_every_caller_of_the_batch(tmp_path) -> None:
    """The commit is done but may not be on disk: no caller is told it succeeded (a merchant's retry
    of a createOrder then meets 1010, its order)."""
    db, other_process = _two_processes(tmp_path)
    held = _FlushHeld(db)
    held.error = OSError(5, "Input/output error")
    held.go.set()
    committer = GroupCommitter(held)
    try:
        with pytest.raises(OSError, match="Input/output error"):
            committer.run(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (1)"))
    finally:
        committer.close()
        db.dispose()
        other_process.dispose()


def test_only_the_group_commit_skips_the_fsync_of_its_commit_and_it_flushes_the_log(tmp_path, monkeypatch) -> None:
    """The batch's transaction runs at synchronous=NORMAL; the pooled connection goes back to FULL for
    every other writer; sync_log flushes the database's write-ahead log file."""
    import os

    db, other_process = _two_processes(tmp_path)
    flushed: list[str] = []
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(
        os, "fdatasync", lambda fd: (flushed.append(os.readlink(f"/proc/self/fd/{fd}")), real_fdatasync(fd))[1]
    )
    committer = GroupCommitter(db)

    def level(conn):
        return conn.connection.driver_connection, conn.exec_driver_sql("PRAGMA synchronous").scalar_one()

    try:
        batch_connection, batch_level = committer.run(level)
        with db.write() as conn:  # one at a time: the pool hands out its one idle connection again
            assert level(conn) == (batch_connection, 2)  # FULL again
    finally:
        committer.close()
        db.dispose()
        other_process.dispose()
    assert batch_level == 1  # NORMAL
    assert flushed == [str(tmp_path / "flush.db-wal")]
