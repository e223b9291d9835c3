"""External sources over HTTP: an administrator registers, maps, syncs and inspects; secrets never come back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PIL import Image as PILImage

from storage.tables import Role
from tests.helpers import eventually
from tests.serving.conftest import Service

SECRET = "hunter2-but-longer-9f3a"


def test_register_map_sync_and_inspect_a_source(service: Service, faces_dir: Path, tmp_path: Path) -> None:
    # Re-encoded copies: no other test of this session's service stores the same photos.
    people = tmp_path / "photos"
    people.mkdir()
    for name in ("img18.jpg", "img19.jpg"):
        PILImage.open(faces_dir / "people" / "deepface_id06" / name).convert("RGB").save(people / name, quality=91)
    file = tmp_path / "morgue.db"
    with sqlite3.connect(file) as remote:
        remote.execute("CREATE TABLE intake (ref TEXT PRIMARY KEY, name TEXT, seq INTEGER, picture TEXT)")
        remote.executemany(
            "INSERT INTO intake VALUES (?, ?, ?, ?)",
            [("A-1", "Unknown 1", 1, "img18.jpg"), ("A-2", "Unknown 2", 2, "img19.jpg")],
        )
    with service.client(Role.ADMIN) as api:
        created = api.post(
            "/external-databases",
            json={
                "name": "County morgue",
                "kind": "sqlite",
                "location": f"sqlite:///{file}",
                "credentials": {"password": SECRET, "headers": {"X-Key": SECRET}},
            },
        )
        assert created.status_code == 201, created.text
        source = created.json()
        assert source["has_credentials"] is True and SECRET not in created.text
        url = f"/external-databases/{source['id']}"
        assert api.post("/external-databases", json={**source, "credentials": None}).status_code == 422  # extra fields
        twin = api.post(
            "/external-databases", json={"name": "County morgue", "kind": "sqlite", "location": f"sqlite:///{file}"}
        )
        assert twin.status_code == 409
        with_password = api.post(
            "/external-databases", json={"name": "Leaky", "kind": "postgresql", "location": "postgresql://u:pw@h/db"}
        )
        assert with_password.status_code == 422 and "password" in with_password.json()["detail"]

        tested = api.post(f"{url}/test").json()
        assert tested == {"ok": True, "tables": ["intake"], "error": None}
        mapping = {
            "source": "intake",
            "id_column": "ref",
            "updated_column": "seq",
            "field_map": {"full_name": "name"},
            "photo_column": "picture",
            "photo_kind": "path",
            "photo_root": str(people),
        }
        wrong = api.put(f"{url}/mapping", json={**mapping, "field_map": {"full_name": "fullname"}})
        assert wrong.status_code == 422 and wrong.json() == {
            "error": "mapping_invalid",
            "detail": "the source has no column named fullname",
        }
        assert api.get(f"{url}/mapping").status_code == 404
        saved = api.put(f"{url}/mapping", json=mapping)
        assert saved.status_code == 200 and saved.json()["validated_at"], saved.text

        started = api.post(f"{url}/sync")
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        job = eventually(
            lambda: (j := api.get(f"/jobs/{job_id}").json())["status"] in ("succeeded", "failed") and j, within=120
        )
        assert job["status"] == "succeeded", job
        [run] = api.get(f"{url}/syncs").json()["items"]
        assert (run["status"], run["records_created"], run["photos"]) == ("succeeded", 2, 2)
        assert run["faces"] >= 2 and run["job_id"] == job_id

        queries = api.get(f"{url}/queries").json()
        assert queries["total"] >= 3 and {q["actor"] for q in queries["items"]} >= {f"job:{job_id}"}
        everything = (
            api.get(url).text + api.get("/external-databases").text + str(queries) + api.get(f"{url}/syncs").text
        )
        assert SECRET not in everything

        changed = api.patch(url, json={"enabled": False, "credentials": None})
        assert changed.status_code == 200 and changed.json()["has_credentials"] is False
        refused = api.post(f"{url}/sync").json()["id"]
        eventually(lambda: api.get(f"/jobs/{refused}").json()["status"] == "succeeded", within=60)
        last = api.get(f"{url}/syncs").json()["items"][0]
        assert last["status"] == "failed" and last["error"] == "the source is disabled"

    with service.client(Role.AUDITOR) as auditor:
        actions = {e["action"] for e in auditor.get("/audit", params={"target_id": source["id"]}).json()["items"]}
    assert {"external.create", "external.test", "external.mapping", "external.sync", "external.update"} <= actions

    with service.client(Role.ADMIN) as api:
        assert api.delete(url).status_code == 204
        assert api.get(url).status_code == 404
