"""Qdrant Edge search options at 50,000 points: recall@10 and latency, per index layout.

    python -m bench.edge_options [--points 50000] [--queries 300] [--data random,clustered]

Why this exists: the filtered HNSW search of the first Edge store found 15-17 % of the true top 10
under a tenant filter, so the store searched exactly (a scan of the tenant's points), whose p95 was
5.7 ms on a quiet machine but 95 ms at load 21. This measures, on the same points:

- `exact`           : exact scan of the tenant's points (the old default);
- `global`          : one HNSW graph over every point, keyword indexes on the filter fields (the old
                      non-exact layout), searched at the default ef and at ef 128 / 256;
- `unfiltered`      : that graph without any filter: separates what the data costs from what the
                      filter costs;
- `tenant_graphs`   : Qdrant's multitenancy layout: the tenant field indexed with is_tenant, no
                      global graph (m=0) and one graph per tenant (payload_m=16), so a tenant's
                      search walks a graph made of its own points only.

Two data sets: `random` (Gaussian vectors in 384 dimensions: the worst case for any graph index,
as every point is about equally far from every other) and `clustered` (points around 1,000 topic
centres with noise, closer to what a sentence model gives for work items). Each search is checked
for tenant isolation; recall is against brute force over the same tenant (and source) subset.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import percentile

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TENANTS = [f"tenant-{i}" for i in range(5)]
DIM = 384


def make_vectors(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        v = rng.standard_normal((n, DIM)).astype(np.float32)
    else:
        centres = rng.standard_normal((1000, DIM)).astype(np.float32)
        v = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_probes(kind: str, vectors: np.ndarray, q: int, rng: np.random.Generator) -> np.ndarray:
    """Queries near stored points for clustered data (a query is about something that exists)."""
    if kind == "random":
        p = rng.standard_normal((q, DIM)).astype(np.float32)
    else:
        p = vectors[rng.integers(0, len(vectors), q)] + 0.5 * rng.standard_normal((q, DIM)).astype(np.float32)
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def build(e: Any, path: Path, layout: str, vectors: np.ndarray) -> tuple[Any, dict[str, float]]:
    if layout == "tenant_graphs":
        hnsw = e.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16)
    else:
        hnsw = e.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000)
    config = e.EdgeConfig(vectors=e.EdgeVectorParams(size=DIM, distance=e.Distance.Cosine), hnsw_config=hnsw)
    shard = e.EdgeShard.create(str(path), config)
    tenant_schema = e.KeywordIndexParams(is_tenant=True) if layout == "tenant_graphs" else e.PayloadSchemaType.Keyword
    shard.update(e.UpdateOperation.create_field_index("tenant", tenant_schema))
    for key in ("source_type", "table_name", "external_id", "project"):
        shard.update(e.UpdateOperation.create_field_index(key, e.PayloadSchemaType.Keyword))
    t0 = time.perf_counter()
    for first in range(0, len(vectors), 256):
        shard.update(e.UpdateOperation.upsert_points([
            e.Point(uuid.UUID(int=i + 1), vectors[i].tolist(),
                    {"tenant": TENANTS[i % 5], "source_type": "JIRA" if i % 3 else "GITHUB",
                     "table_name": "work_items", "external_id": f"P-{i}"})
            for i in range(first, min(first + 256, len(vectors)))]))
    upsert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    shard.optimize()
    return shard, {"upserts_per_s": len(vectors) / upsert_s, "optimize_s": time.perf_counter() - t0}


def measure(e: Any, shard: Any, vectors: np.ndarray, probes: np.ndarray, *, exact: bool, ef: int | None,
            filtered: bool, source: bool) -> dict[str, float]:
    n = len(vectors)
    lat, recalls, short = [], [], 0
    for i, probe in enumerate(probes):
        t = i % 5
        must = [e.FieldCondition(key="tenant", match=e.MatchValue(TENANTS[t]))] if filtered else []
        idx = np.arange(t, n, 5) if filtered else np.arange(n)
        if source:
            must.append(e.FieldCondition(key="source_type", match=e.MatchValue("GITHUB")))
            idx = idx[idx % 3 == 0]
        request = e.QueryRequest(limit=10, query=e.Query.Nearest(probe.tolist()), with_payload=True,
                                 filter=e.Filter(must=must) if must else None,
                                 params=e.SearchParams(hnsw_ef=ef, exact=exact))
        t0 = time.perf_counter()
        hits = shard.query(request)
        lat.append((time.perf_counter() - t0) * 1000)
        if filtered:
            assert all(h.payload["tenant"] == TENANTS[t] for h in hits), "another tenant's point"
        short += len(hits) < 10
        truth = {int(j) + 1 for j in idx[np.argsort(-(vectors[idx] @ probe))[:10]]}
        recalls.append(len(truth & {uuid.UUID(str(h.id)).int for h in hits}) / 10)
    return {"recall_at_10": round(float(np.mean(recalls)), 3), "ms_p50": round(percentile(lat, 50), 2),
            "ms_p95": round(percentile(lat, 95), 2), "short_answers": short}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_options", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--data", default="random,clustered")
    parser.add_argument("--layouts", default="global,tenant_graphs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import qdrant_edge as e

    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "points": args.points,
                               "queries": args.queries, "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
                               "load_avg_at_start": list(os.getloadavg())}
    for kind in args.data.split(","):
        rng = np.random.default_rng(11)
        vectors = make_vectors(kind, args.points, rng)
        probes = make_probes(kind, vectors, args.queries, rng)
        for layout in args.layouts.split(","):
            folder = Path(tempfile.mkdtemp(prefix="edge-options-"))
            try:
                print(f"{kind} / {layout}: building ...", file=sys.stderr, flush=True)
                shard, figures = build(e, folder / "s", layout, vectors)
                out: dict[str, Any] = {**figures, "load_avg_after_build": list(os.getloadavg())}
                cases: list[tuple[str, bool, int | None, bool, bool]] = [
                    ("tenant_exact", True, None, True, False), ("tenant_hnsw", False, None, True, False),
                    ("tenant_hnsw_ef128", False, 128, True, False), ("tenant_hnsw_ef256", False, 256, True, False),
                    ("tenant_source_exact", True, None, True, True), ("tenant_source_hnsw", False, None, True, True),
                    ("tenant_source_hnsw_ef128", False, 128, True, True)]
                if layout == "global":
                    cases += [("unfiltered_hnsw", False, None, False, False),
                              ("unfiltered_hnsw_ef256", False, 256, False, False)]
                for label, exact, ef, filtered, source in cases:
                    out[label] = measure(e, shard, vectors, probes, exact=exact, ef=ef, filtered=filtered,
                                         source=source)
                    print(f"  {label}: {out[label]}", file=sys.stderr, flush=True)
                out["load_avg_after_search"] = list(os.getloadavg())
                results[f"{kind}_{layout}"] = out
                shard.close()
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
