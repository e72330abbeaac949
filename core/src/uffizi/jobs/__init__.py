"""Running stored jobs: the one function every runner calls, and the default runner.

- `uffizi.jobs.execute`: `execute_job(job_id, *, platform, db, blobs, owner, lease_s)` claims a
  job and runs it to a final state (`JobContext` persists progress, sees cancel, enforces the
  timeout; a monitor thread renews the lease).
- `uffizi.jobs.runner`: `InProcessRunner`, N threads in this process that poll `claim_job`,
  and `InProcessRunnerFactory`, what the built-in `make_runner` hook returns.

Importing this package loads neither torch nor the store; its modules do what they need.
"""
