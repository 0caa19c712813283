"""The threads of a send run: a writer thread that commits the per-message steps while the
channel waits for the relay, and a checkpointer that copies the WAL into the database file."""

import logging
import threading

log = logging.getLogger("caseload.outbox")

WAL_PAGES = 10_000  # the writer's own checkpoints, a backstop: Checkpointer does the work
CHECKPOINT_EVERY = 0.25  # seconds between checkpoints in the background during a run
RESTART_FRAMES = 4000  # WAL frames (pages) after which the writer starts the WAL file afresh


class Writer:
    """One thread with its own connection that commits the per-message steps, so a commit runs
    while the channel waits for the relay instead of in between. (A lock hand-off costs half of
    what a ThreadPoolExecutor future does; this runs once per message.)"""

    def __init__(self, store):
        from queue import SimpleQueue

        self.jobs: SimpleQueue = SimpleQueue()
        self.path = store.path
        self.started = threading.Lock()
        self.started.acquire()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="caseload-outbox", daemon=True)
        self.thread.start()
        self.started.acquire()  # the connection is open (or failed to open)
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        from ..db import open_db

        try:
            db = open_db(self.path)
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")
        except BaseException as e:  # handed to the caller of __init__
            self.error = e
            self.started.release()
            return
        self.started.release()
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                job.run(db)
        finally:
            try:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                db.close()

    def submit(self, fn, *args) -> "Job":
        job = Job(fn, args)
        self.jobs.put(job)
        return job

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class Checkpointer:
    """Copies the WAL into the database file during a run, in its own thread and connection.
    Left to the writer, a checkpoint of 10,000 pages stopped it for 130 to 170 ms (mostly the
    fsync of the WAL), and the relay waited with it. Once a checkpoint here has caught up with a
    long WAL, the writer checkpoints the few pages written since: only a writer can start the
    WAL file from the beginning, and it does so in its next transaction."""

    def __init__(self, path, writer: Writer):
        self.writer = writer
        self.asked: Job | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._work, args=(path,), name="caseload-checkpoint", daemon=True)
        self.thread.start()

    def _work(self, path) -> None:
        from ..db import open_db

        try:
            db = open_db(path)
        except Exception:  # the writer's own checkpoints still bound the WAL
            log.warning("no checkpoints in the background during this send run")
            return
        try:
            while not self.stopping.wait(CHECKPOINT_EVERY):
                busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy and frames >= RESTART_FRAMES and copied > 0 and (
                        self.asked is None or self.asked.finished()):
                    self.asked = self.writer.submit(_checkpoint)
        finally:
            db.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


def _checkpoint(db) -> None:
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")


class Job:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args
        self.value = self.error = None
        self.done = threading.Lock()
        self.done.acquire()

    def run(self, db) -> None:
        try:
            self.value = self.fn(db, *self.args)
        except BaseException as e:  # re-raised where the result is asked for
            self.error = e
        finally:
            self.done.release()

    def finished(self) -> bool:
        return not self.done.locked()

    def result(self):
        if self.done.acquire():
            self.done.release()
        if self.error is not None:
            raise self.error
        return self.value


def after(before: "Job | None", job: "Job"):
    """job.result, but first raise if the step before it (recording a batch's last outcome)
    failed: the writer runs jobs in order, so it has finished by then."""
    if before is None:
        return job.result

    def result():
        before.result()
        return job.result()
    return result


class Once:
    """Runs a function the first time it is called; later calls return that first result."""

    def __init__(self, fn):
        self.fn = fn
        self.called = False
        self.result = None

    def __call__(self):
        if not self.called:
            self.called = True
            self.result = self.fn()
        return self.result
