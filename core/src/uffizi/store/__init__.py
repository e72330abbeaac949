"""The job store: SQLModel tables, the database, the blob store and the job data functions.

- `uffizi.store.models`: the tables (`Job`, `Artifact`, `ApiKey`, `IdempotencyKey`).
- `uffizi.store.db`: `Database(url)`: engine + sessions, SQLite (WAL) or PostgreSQL,
  `upgrade()` applies the Alembic migrations.
- `uffizi.store.blobs`: `BlobStore(root)`: content-addressed files (sha256).
- `uffizi.store.jobs`: keyword-only data functions on jobs (create, get, list, claim with a
  lease, renew, progress, finish, cancel, retry, delete). Routes and runners call these; they
  never build queries themselves.
"""
