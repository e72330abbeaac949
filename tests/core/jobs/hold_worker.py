"""A runner process that dies holding a job, for the lease tests (a script, not collected).

    python hold_worker.py execute DB_URL JOB_ID LEASE_S MODEL_DIR HOME BLOBS_ROOT
        runs the job with `execute_job` on the real engine, and hangs inside it (the
        `HangBeforeRun` plugin prints "hanging <job id> <attempts>" first); its lease is
        renewed by execute_job's monitor until the test kills the process (SIGKILL)
    python hold_worker.py hold DB_URL JOB_ID LEASE_S
        claims the job, prints "claimed <job id> <attempts>" and renews the lease forever
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from uffizi.store import jobs as J
from uffizi.store.db import Database


def main() -> None:
    mode, url, job_id, lease_s = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    db = Database(url)
    owner = f"doomed-{mode}"
    if mode == "hold":
        with db.session() as s:
            job = J.claim_job(s, owner=owner, lease_s=lease_s, job_id=job_id)
        if job is None:
            print("nothing to claim", flush=True)
            return
        print("claimed", job.id, job.attempts, flush=True)
        while True:
            time.sleep(lease_s / 3)
            with db.session() as s:
                J.renew_lease(s, job_id, owner=owner, lease_s=lease_s)
    model_dir, home, blobs_root = sys.argv[5], Path(sys.argv[6]), Path(sys.argv[7])
    from job_pipelines import HangBeforeRun, TestPipelines

    from uffizi.jobs.execute import execute_job
    from uffizi.platform import Platform
    from uffizi.settings import Settings
    from uffizi.store.blobs import BlobStore

    settings = Settings(model=model_dir, home=home, load_plugins="", device="cpu")
    platform = Platform(settings, plugins=[TestPipelines(), HangBeforeRun()])
    execute_job(job_id, platform=platform, db=db, blobs=BlobStore(blobs_root), owner=owner,
                lease_s=lease_s)
    print("finished (should never happen)", flush=True)


if __name__ == "__main__":
    main()
