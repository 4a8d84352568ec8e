"""Bad input answers 4xx naming the field, never 5xx, and writes nothing."""

from __future__ import annotations

import json

import httpx

from conveyor.store import JobFilter

NAIVE = "2030-01-01T09:00:00"
BAD_BODIES = [
    # (body, expected status, a field the answer must name)
    ({"task": "t.add", "args": "1,2"}, 422, "args"),
    ({"task": "t.add", "kwargs": [1, 2]}, 422, "kwargs"),
    ({"task": "t.add", "priority": "high"}, 422, "priority"),
    ({"task": "t.add", "priority": 1.5}, 422, "priority"),
    ({"task": "t.add", "priority": 10**12}, 422, "priority"),
    ({"task": 42}, 422, "task"),
    ({"args": [1, 2]}, 422, "task"),
    ({"task": ""}, 422, "task"),
    ({"task": "t.add", "delay": -1}, 422, "delay"),
    ({"task": "t.add", "delay": "soon"}, 422, "delay"),
    ({"task": "t.add", "delay": 1e300}, 422, "delay"),
    ({"task": "t.add", "run_at": NAIVE}, 422, "run_at"),
    ({"task": "t.add", "run_at": "tomorrow"}, 422, "run_at"),
    ({"task": "t.add", "delay": 5, "run_at": "2030-01-01T09:00:00Z"}, 422, "run_at"),
    ({"task": "t.add", "max_attempts": 0}, 422, "max_attempts"),
    ({"task": "t.add", "timeout": 0}, 422, "timeout"),
    ({"task": "t.add", "timeout": -3}, 422, "timeout"),
    ({"task": "t.add", "policy": "maybe"}, 422, "policy"),
    ({"task": "t.add", "queue": "bad queue!"}, 422, "queue"),
    ({"task": "t.add", "queue": "nowhere"}, 422, "queue"),
    ({"task": "t.unknown"}, 422, "t.unknown"),
    ({"task": "t.add", "colour": "red"}, 422, "colour"),
    ({"task": "t.add", "args": ["a\u0000b"]}, 422, "args"),
    ({"task": "t.add", "kwargs": {"k": {"deep": "\u0000"}}}, 422, "kwargs"),
    ({"task": "t.add", "token": "a\u0000"}, 422, "token"),
    ({"task": "t.add", "tenant": "bad tenant"}, 422, "tenant"),
    ([1, 2, 3], 422, "body"),
    ("just a string", 422, "body"),
]

RAW_BODIES = [
    (b'{"task": "t.add", "args": [1, 2', "body"),  # malformed JSON
    (b"not json at all", "body"),
    (b'{"task": "t.add", "args": ["\\ud800"]}', "args"),  # a lone surrogate: invalid Unicode
    (b'{"task": "t.add", "args": [NaN]}', "args"),
    (b'{"task": "t.add", "args": ' + b"[" * 5000 + b"]" * 5000 + b"}", ""),  # absurd nesting
]

BAD_QUERIES = [
    ({"limit": 1000}, 422, "limit"),
    ({"limit": 0}, 422, "limit"),
    ({"limit": "ten"}, 422, "limit"),
    ({"cursor": "definitely-not-a-cursor"}, 400, "cursor"),
    ({"cursor": "W10"}, 400, "cursor"),  # base64 of [] : valid base64 and JSON, not a cursor
    ({"state": "finished,bogus"}, 422, "state"),
    ({"created_after": NAIVE}, 422, "created_after"),
    ({"created_before": "yesterday"}, 422, "created_before"),
    ({"queue": "no spaces allowed"}, 422, "queue"),
    ({"task": "a\u0000b"}, 422, "task"),
]


def _check(r: httpx.Response, status: int, field: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] and "action" in body and "technical_details" in body, body
    if field:
        assert field in json.dumps(body), (field, body)


def test_bad_enqueue_bodies_are_rejected_without_writes(app, client, start_worker):
    start_worker()
    for body, status, field in BAD_BODIES:
        _check(client.post("/api/jobs", json=body), status, field)
    for raw, field in RAW_BODIES:
        r = client.post("/api/jobs", content=raw, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (raw[:40], r.status_code, r.text)
        assert r.json()["error"], r.text
        if field:
            assert field in r.text, (field, r.text)
    r = client.post("/api/jobs", content=b"task=t.add", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500, r.text
    assert app.store.list_jobs(JobFilter(), limit=10) == []


def test_huge_payloads_are_refused_with_413(app, client, start_worker):
    start_worker()
    big = {"task": "t.add", "args": ["x" * (1 << 20)]}
    r = client.post("/api/jobs", json=big)
    assert r.status_code == 413 and "1048576" in r.json()["error"]

    def chunks():  # no Content-Length: the limit must hold on a streamed body too
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/api/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert app.store.list_jobs(JobFilter(), limit=10) == []


def test_bad_query_parameters(app, client):
    for params, status, field in BAD_QUERIES:
        _check(client.get("/api/jobs", params=params), status, field)
    _check(client.get("/api/dead", params={"limit": 1000}), 422, "limit")
    _check(client.get("/api/dead", params={"cursor": "%%%"}), 400, "cursor")
    for bulk in ({}, {"ids": []}, {"all": False}, {"ids": ["not-a-uuid"]}, {"all": "yes"}, {"queue": "bad q"}):
        r = client.post("/api/dead/requeue", json=bulk)
        assert r.status_code == 422, (bulk, r.text)
        r = client.post("/api/dead/purge", json=bulk)
        assert r.status_code == 422, (bulk, r.text)
    _check(client.post("/api/queues/bad%20name/pause"), 422, "name")
    _check(client.post("/api/keys", json={"role": "superuser"}), 422, "role")
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json()["error"]
    r = client.put("/api/jobs")
    assert r.status_code == 405 and r.json()["error"]
