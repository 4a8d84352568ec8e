"""Enqueue over HTTP binds the arguments against the task's signature (422 naming the parameter,
nothing written), takes short task names, lets policy accept queue for a queue no worker served
yet, and tells the Run-now form each parameter's real default."""

from __future__ import annotations

import pytest

from conveyor.store import JobFilter


@pytest.mark.parametrize("body, field, message", [
    ({"task": "t.add", "kwargs": {"a": 1, "b": 2, "imageid": 1}}, "kwargs.imageid", "has no parameter 'imageid'"),
    ({"task": "t.add", "args": [1]}, "kwargs.b", "missing required parameter(s) 'b'"),
    ({"task": "t.add", "args": [1, 2, 3]}, "args", "takes 2 positional argument(s)"),
])
def test_arguments_that_cannot_bind_answer_422_naming_the_parameter(app, client, start_worker, body, field, message):
    start_worker()
    r = client.post("/api/jobs", json=body)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert message in answer["error"] and answer["fields"][0]["field"] == field
    assert app.store.list_jobs(JobFilter(), limit=10) == []


def test_short_task_names_and_accept_into_a_new_queue(app, client, start_worker):
    start_worker()
    r = client.post("/api/jobs", json={"task": "add", "args": [2, 3]})
    assert r.status_code == 201, r.text
    assert r.json()["task"] == "t.add"
    r = client.post("/api/jobs", json={"task": "nope"})
    assert r.status_code == 422 and "conveyor.probe" not in r.text
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 2], "queue": "later", "policy": "accept"})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "queued" and r.json()["queue"] == "later"
    r = client.post("/api/jobs", json={"task": "t.add", "args": [1, 2], "queue": "later2"})
    assert r.status_code == 422 and "policy 'accept'" in r.json()["action"]


def test_tasks_list_the_real_defaults(client):
    items = {t["name"]: t for t in client.get("/api/tasks").json()["items"]}
    assert "conveyor.probe" not in items
    progress = {p["name"]: p for p in items["t.progress"]["signature"]}
    assert list(progress) == ["steps", "step_seconds", "marker"]  # ctx left out
    assert progress["steps"]["required"] and "default" not in {k for k, v in progress["steps"].items() if v}
    assert progress["marker"] == {**progress["marker"], "required": False, "default": None, "default_is_json": True}
    wait_cancel = {p["name"]: p for p in items["t.wait_cancel"]["signature"]}
    assert wait_cancel["limit"]["default"] == 30.0
