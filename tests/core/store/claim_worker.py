"""A claiming process for the concurrency tests (run as a script, not collected by pytest).

    python claim_worker.py DB_URL OWNER START_AT THREADS

Waits until the wall clock reaches START_AT (so every process starts together), then claims
jobs on THREADS threads until none is left and prints `<job id> <owner>` per claim.
"""

from __future__ import annotations

import sys
import threading
import time

from uffizi.store import jobs as J
from uffizi.store.db import Database


def main() -> None:
    url, owner, start_at, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    db = Database(url)
    db.ping()
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            with db.session() as s:
                job = J.claim_job(s, owner=name, lease_s=60)
            if job is None:
                return
            with lock:
                claimed.append((job.id, name))

    time.sleep(max(0.0, start_at - time.time()))
    workers = [threading.Thread(target=work, args=(f"{owner}/{i}",)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for job_id, name in claimed:
        print(job_id, name)
    db.dispose()


if __name__ == "__main__":
    main()
