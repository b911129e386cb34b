"""Group commit: concurrent write use cases of one process share a transaction and its fsync.

On this class of machine a durable commit costs milliseconds (SQLite synchronous=FULL, or
PostgreSQL synchronous_commit on), far more than the work of one order. Instead of weakening
durability, a single writer thread takes every job waiting at that moment, runs each inside its
own SAVEPOINT of one transaction, commits once, and only then answers each caller. A job that
raises is rolled back to its savepoint alone and its exception is handed to its caller; the others
commit. Nobody gets an answer before the data that explains it is on disk.

If the shared commit itself fails, every job of the batch is run again alone, so that one bad
job cannot fail the others.

On SQLite the commit does not wait for the disk: the batch gives the writer back to the other
processes first, then flushes the write-ahead log (`sync_log`), then answers. The log is one file
appended in commit order, so the flush makes every commit before it durable, the other processes'
included. Another reader may see a commit in the milliseconds before its flush (a power cut then
would take back what it saw); what resell sends itself waits: the worker claims outbox events
(webhooks, emails) in a commit of its own at synchronous=FULL, whose flush covers every commit
before it, before it sends anything.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from resell.logs import get_logger

log = get_logger("resell.db.group_commit")

T = TypeVar("T")
MAX_BATCH = 64
# told of each batch once it is committed: how many jobs, the seconds it waited for the other
# processes' turns, the seconds it held the turn (the database's one writer)
BatchObserver = Callable[[int, float, float], None]


class WriteTarget(Protocol):
    """What the committer needs of a database (resell.db.engine.Database is one): a turn among the
    writers of every process, and a write transaction. A protocol, so that this module does not
    import the engine that creates it."""

    def writer_turn(self) -> AbstractContextManager[None]: ...

    def write(self, sync: bool = True) -> AbstractContextManager[Connection]: ...

    def sync_log(self) -> None: ...


@dataclass
class _Job:
    fn: Callable[[Connection], Any]
    future: Future


class GroupCommitter:
    """One writer thread per process and database; `run(fn)` blocks until fn's work is committed."""

    def __init__(self, db: WriteTarget, max_batch: int = MAX_BATCH, on_batch: BatchObserver | None = None):
        self.db = db
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.jobs_done = 0

    def run(self, fn: Callable[[Connection], T]) -> T:
        """Run fn(conn) in a shared write transaction; return its result once committed, or raise its error."""
        self._ensure_thread()
        future: Future = Future()
        self._jobs.put(_Job(fn, future))
        return future.result()

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            # The batch is gathered once this process has its turn: the jobs that arrived while the
            # other processes wrote join it, instead of waiting for one more turn and one more fsync.
            batch, stop = [first], False
            asked = time.perf_counter()
            try:
                with self.db.writer_turn():
                    taken = time.perf_counter()
                    stop = self._gather(batch)
                    settled = self._run_batch(batch)
                released = time.perf_counter()
                # durable before anyone hears of it; flushed after the turn, so that the other
                # processes write meanwhile (one flush then often covers their commits too)
                self.db.sync_log()
                if self.on_batch is not None:
                    self.on_batch(len(batch), taken - asked, released - taken)
            except Exception as exc:  # noqa: BLE001 - no turn, or no flush: every job gets the error
                settled = [(job, False, exc) for job in batch]
            # the callers are woken once the turn is released: the other processes write meanwhile
            for job, ok, value in settled:
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
            if stop:
                return

    def _gather(self, batch: list[_Job]) -> bool:
        """Add the jobs waiting now to `batch`, up to max_batch; True if close() asked to stop."""
        while len(batch) < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            batch.append(job)
        return False

    def _run_batch(self, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        """Run the batch in one transaction, in this process's writer turn (held by the caller);
        each job with its outcome (True and its result, or False and its exception), once committed."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.db.write(sync=False) as conn:  # the caller flushes the log (sync_log)
                # savepoints on the driver connection: SQLAlchemy's nested transactions cost more
                # than the statements they wrap, and the jobs never nest their own
                driver = conn.connection.driver_connection
                assert driver is not None
                for job in batch:
                    driver.execute("SAVEPOINT group_job")
                    try:
                        result = job.fn(conn)
                    except BaseException as exc:  # noqa: BLE001 - handed to the job's caller
                        driver.execute("ROLLBACK TO SAVEPOINT group_job")
                        driver.execute("RELEASE SAVEPOINT group_job")
                        outcomes.append((False, exc))
                    else:
                        driver.execute("RELEASE SAVEPOINT group_job")
                        outcomes.append((True, result))
        except Exception as exc:  # noqa: BLE001 - the shared commit failed: retry each job alone
            log.warning("group_commit_failed", jobs=len(batch), error=f"{type(exc).__name__}: {exc}")
            if len(batch) == 1:
                return [(batch[0], False, exc)]
            return [settled for job in batch for settled in self._run_batch([job])]
        self.batches += 1
        self.jobs_done += len(batch)
        return [(job, ok, value) for job, (ok, value) in zip(batch, outcomes, strict=True)]
