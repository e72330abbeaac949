"""Who may do what: open until the first key, then a key on every call but /healthz and
/readyz; scopes; another tenant's jobs answer 404 everywhere; revoked keys stop working;
admins manage their own tenant's keys over the API."""

from __future__ import annotations

import time

from uffizi.api.auth import create_key


def _key(live, tenant: str, scopes: str) -> str:
    with live.state.db.session() as s:
        return create_key(s, tenant=tenant, scopes=scopes, name=f"{tenant}-{scopes}")[1]


def test_open_until_the_first_key_then_keys_everywhere(service, backend, make_png):
    live = service(backend, runners=1)
    live.wait_ready()
    with live.client() as anon:
        early = anon.post("/v1/jobs", data={"pipeline": "test/slow"}, files=[("inputs", ("a.png", make_png()))])
        assert early.status_code == 202 and early.json()["tenant"] == "default"
        acme = _key(live, "acme", "submit,read")
        globex = _key(live, "globex", "submit,read")
        reader = _key(live, "acme", "read")
        admin = _key(live, "default", "admin")
        time.sleep(1.1)  # the "keys exist" check is cached for a second
        r = anon.get("/v1/jobs")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert anon.get("/healthz").status_code == 200
        assert anon.get("/readyz").status_code == 200
        assert anon.get("/metrics").status_code == 401
        assert anon.get("/v1/pipelines").status_code == 401
        bad = anon.get("/v1/jobs", headers={"Authorization": "Bearer uffizi_000000000000_" + "a" * 32})
        assert bad.status_code == 401

    with live.client(acme) as a, live.client(globex) as g, live.client(reader) as ro, live.client(admin) as adm:
        job = a.post("/v1/jobs", data={"pipeline": "test/slow"}, files=[("inputs", ("a.png", make_png()))]).json()
        assert job["tenant"] == "acme"
        jid = job["id"]
        assert live.wait_job(a, jid)["status"] == "succeeded"
        # the other tenant sees nothing, whatever it tries
        for method, path in (("GET", f"/v1/jobs/{jid}"), ("GET", f"/v1/jobs/{jid}/result"),
                             ("GET", f"/v1/jobs/{jid}/events"), ("GET", f"/v1/jobs/{jid}/artifacts/summary.txt"),
                             ("POST", f"/v1/jobs/{jid}/cancel"), ("POST", f"/v1/jobs/{jid}/retry"),
                             ("DELETE", f"/v1/jobs/{jid}")):
            r = g.request(method, path)
            assert r.status_code == 404, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "job_not_found"
        assert g.get("/v1/jobs").json()["items"] == []
        assert [j["id"] for j in a.get("/v1/jobs").json()["items"]] == [jid]
        # jobs from before the first key belong to "default"
        assert [j["id"] for j in adm.get("/v1/jobs").json()["items"]] == [early.json()["id"]]
        # the X-API-Key header works as well
        assert live.client().get(f"/v1/jobs/{jid}", headers={"X-API-Key": acme}).status_code == 200
        # scopes
        assert ro.get(f"/v1/jobs/{jid}").status_code == 200
        denied = ro.post("/v1/jobs", data={"pipeline": "test/slow"}, files=[("inputs", ("a.png", make_png()))])
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        assert a.get("/v1/keys").status_code == 403
        assert a.get("/metrics").status_code == 200
        # admins: their own tenant's keys
        made = adm.post("/v1/keys", json={"tenant": "default", "scopes": ["read"], "name": "ci"})
        assert made.status_code == 201 and made.json()["key"].startswith("uffizi_")
        assert adm.post("/v1/keys", json={"tenant": "acme"}).status_code == 403
        listed = adm.get("/v1/keys").json()
        assert {k["tenant"] for k in listed} == {"default"} and all("key" not in k for k in listed)
        revoked = adm.delete(f"/v1/keys/{made.json()['id']}").json()
        assert revoked["revoked_at"] is not None
        gone = live.client(made.json()["key"]).get("/v1/jobs")
        assert gone.status_code == 401
        secret = a.get("/v1/webhooks/secret").json()["secret"]
        assert secret != g.get("/v1/webhooks/secret").json()["secret"]


def test_keys_are_stored_hashed(service):
    live = service(runners=0)
    from uffizi.api.auth import list_keys

    key = _key(live, "acme", "submit")
    with live.state.db.session() as s:
        (row,) = list_keys(s)
    secret = key.split("_")[2]
    assert secret not in row.secret_hash and key.split("_")[1] == row.id
