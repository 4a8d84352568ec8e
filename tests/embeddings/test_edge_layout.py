"""The Edge store's layout (one HNSW graph per tenant, the tenant field as Qdrant's tenant key) and
`conveyor embeddings optimize`, which builds the graphs offline: refused while another process
owns the folder, and searches keep their tenant after it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from conveyor.cli import main as cli_main
from conveyor.etl.embeddings.edge_store import TENANT_GRAPHS, EdgeStore
from conveyor.etl.embeddings.vector_store import VectorPoint


def fill(folder: Path, n: int = 600) -> np.ndarray:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = EdgeStore(folder)
    try:
        store.ensure_collection("c", 16)
        store.upsert("c", [VectorPoint(str(uuid.UUID(int=i + 1)), vectors[i], {"tenant": f"t{i % 3}"})
                           for i in range(n)])
    finally:
        store.close()
    return vectors


def test_collections_get_one_graph_per_tenant(tmp_path: Path) -> None:
    fill(tmp_path / "v")
    config = json.loads((tmp_path / "v" / "c" / "edge_config.json").read_text())
    hnsw = config["hnsw_config"]
    assert (hnsw["m"], hnsw["payload_m"]) == (TENANT_GRAPHS["m"], TENANT_GRAPHS["payload_m"]) == (0, 16)


def test_optimize_builds_offline_and_searches_keep_their_tenant(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = fill(tmp_path / "v")
    monkeypatch.setenv("CONVEYOR_VECTOR_DIR", str(tmp_path / "v"))
    owner = EdgeStore(tmp_path / "v")  # a worker holding the folder
    try:
        assert cli_main(["embeddings", "optimize"]) == 2
        assert "is already open (owner: process" in capsys.readouterr().err
    finally:
        owner.close()
    assert cli_main(["embeddings", "optimize", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["folder"] == str(tmp_path / "v")
    store = EdgeStore(tmp_path / "v")
    try:
        assert store.count("c", tenant="t1") == 200
        for i in range(5):
            hits = store.search("c", vectors[i], tenant="t1", limit=5)
            assert len(hits) == 5 and all(h.payload["tenant"] == "t1" for h in hits)
            members = np.arange(1, 600, 3)  # exact top 5 of tenant t1
            truth = {str(uuid.UUID(int=int(j) + 1)) for j in members[np.argsort(-(vectors[members] @ vectors[i]))[:5]]}
            assert {h.id for h in hits} == truth
    finally:
        store.close()
