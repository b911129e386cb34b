"""Database.shared_read: one read transaction for a hot request; on SQLite the thread keeps its connection."""

from __future__ import annotations

import gc
import threading

from resell.db.engine import Database


def test_sqlite_keeps_one_connection_per_thread_and_gives_it_back_when_the_thread_ends(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    seen: list[object] = []

    def reads() -> None:
        for _ in range(3):
            with db.shared_read() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
                seen.append(conn)
                assert db.engine.pool.checkedout() == 1
        assert db.engine.pool.checkedout() == 1  # kept between reads, outside any transaction
        assert not seen[0].in_transaction()

    try:
        thread = threading.Thread(target=reads)
        thread.start()
        thread.join()
        assert len(seen) == 3 and seen[0] is seen[1] is seen[2]
        del thread
        gc.collect()
        assert db.engine.pool.checkedout() == 0  # the ended thread's connection went back to the pool
    finally:
        db.dispose()


def test_a_failed_shared_read_leaves_the_kept_connection_usable(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    try:
        try:
            with db.shared_read() as conn:
                conn.exec_driver_sql("SELECT * FROM missing")
        except Exception:  # noqa: BLE001 - the failure under test
            pass
        with db.shared_read() as conn:
            assert conn.exec_driver_sql("SELECT 2").scalar() == 2
    finally:
        db.dispose()
    assert db.engine.pool.checkedout() == 0
