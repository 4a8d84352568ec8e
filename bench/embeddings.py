"""Embedding benchmark: `python -m bench.embeddings` (see bench/README.md, "Embeddings").

1. Embedder: texts per second of the bare model (tokenizer + onnxruntime session, nothing else)
   and, on the same texts in the same run, of `OnnxEmbedder.embed` and of the whole stage
   (`VectorIndexer.sync`: plan, chunking, embedding, upserts into the embedded store): ratios to
   the bare model; then the embedding stage in a real pipeline run by a `conveyor worker` process
   (bench/embedding_stage.py: rows read from a table, bridge rows written) and the search job's
   round trip. If sentence-transformers is importable, its CPU-torch encode of the same texts
   too (the runtime comparison behind the ONNX default).
2. Stores: for each embedded engine (Qdrant Edge, qdrant-client local mode) — upserts per second
   of N points (default 50,000, 384 dimensions, 5 tenants), then search p95 latency with a tenant
   filter (and tenant + source_type), limit 10.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import percentile
from conveyor.etl.embeddings import EntityText, VectorIndexer, VectorPoint, VectorStore

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TENANTS = [f"tenant-{i}" for i in range(5)]
SUBJECTS = ["login page", "payment service", "search index", "release pipeline", "mobile app", "billing report",
            "API gateway", "dashboard chart", "email notifier", "database migration", "cache layer", "SSO"]
PROBLEMS = ["crashes when", "times out after", "shows a blank screen if", "returns the wrong total when",
            "leaks memory whenever", "is slow since", "rejects valid input after", "double-sends when"]
CAUSES = ["the user has a unicode password", "the nightly deploy runs", "two tabs are open", "the cache expires",
          "a webhook retries", "the locale is German", "the token is refreshed", "the upload exceeds 10 MB"]


def work_item_texts(n: int, seed: int = 7) -> list[str]:
    """Work-item-like texts: a summary, a description of a few sentences, sometimes long comments."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        sentences = [f"The {rng.choice(SUBJECTS)} {rng.choice(PROBLEMS)} {rng.choice(CAUSES)}."
                     for _ in range(rng.choice([1, 2, 4, 8, 16]))]
        texts.append(" ".join(sentences))
    return texts


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_embedder(results: dict[str, Any], n_texts: int, store_dir: Path, with_pipeline: bool = True) -> None:
    from conveyor.etl.embeddings.edge_store import EdgeStore
    from conveyor.etl.embeddings.onnx_embedder import OnnxEmbedder

    texts = work_item_texts(n_texts)
    embedder = OnnxEmbedder()
    tokenizer, session = embedder._tokenizer, embedder._session  # the bare model, same files

    by_length = sorted(texts, key=len)  # batches of similar length, as sentence-transformers does

    def bare() -> None:
        for start in range(0, len(by_length), embedder.batch_size):
            encoded = tokenizer.encode_batch(by_length[start:start + embedder.batch_size])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask,
                                                 "token_type_ids": np.zeros_like(ids)})

    def stage() -> None:
        store = EdgeStore(store_dir / f"stage-{uuid.uuid4().hex}")
        try:
            entities = [EntityText("t", "JIRA", "work_items", f"P-{i}", t) for i, t in enumerate(texts)]
            VectorIndexer(embedder, store).sync(entities, [])
        finally:
            store.close()

    try:
        from conveyor.etl.embeddings.st_embedder import SentenceTransformersEmbedder

        st: Any = SentenceTransformersEmbedder()
        st.model.encode(texts[:64], batch_size=32)
    except Exception as exc:  # not installed: the comparison is skipped, and said so
        st = None
        results["sentence_transformers"] = f"not measured: {exc}"
    embedder.embed(texts[:64])  # warm-up
    # Interleaved rounds, best of each: drift on a shared machine hits every contender alike.
    bare_s, embed_s, stage_s, st_s = [], [], [], []
    for _ in range(3):
        bare_s.append(timed(bare))
        embed_s.append(timed(lambda: embedder.embed(texts)))
        stage_s.append(timed(stage))
        if st is not None:
            st_s.append(timed(lambda: st.model.encode(texts, batch_size=32, normalize_embeddings=True)))
    results["texts"] = n_texts
    results["bare_onnx_texts_per_s"] = n_texts / min(bare_s)
    results["onnx_embedder_texts_per_s"] = n_texts / min(embed_s)
    results["stage_texts_per_s"] = n_texts / min(stage_s)
    results["ratio_embedder_vs_bare"] = min(bare_s) / min(embed_s)
    results["ratio_stage_vs_bare"] = min(bare_s) / min(stage_s)
    if with_pipeline:
        from bench.embedding_stage import bench_stage

        print("embedding stage through a pipeline and a worker process ...", file=sys.stderr)
        bench_stage(results, texts, bare, store_dir)
    if st is None:
        return
    results["sentence_transformers_torch_texts_per_s"] = n_texts / min(st_s)
    results["ratio_onnx_vs_torch"] = min(st_s) / min(bare_s)
    import torch

    results["torch_version"] = torch.__version__
    results["torch_threads"] = torch.get_num_threads()
    diff = np.abs(st.embed(texts[:32]).vectors - embedder.embed(texts[:32]).vectors).max()
    results["max_abs_diff_onnx_vs_torch"] = float(diff)


def bench_store(name: str, store: VectorStore, n_points: int, queries: int, dimension: int = 384) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    collection = "bench"
    store.ensure_collection(collection, dimension)
    vectors = rng.standard_normal((n_points, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out: dict[str, Any] = {"points": n_points}
    batch = 256
    start = time.perf_counter()
    for first in range(0, n_points, batch):
        points = [VectorPoint(str(uuid.UUID(int=i + 1)), vectors[i],
                              {"tenant": TENANTS[i % len(TENANTS)], "source_type": "JIRA" if i % 3 else "GITHUB",
                               "table_name": "work_items", "external_id": f"P-{i}"})
                  for i in range(first, min(first + batch, n_points))]
        store.upsert(collection, points)
    out["upserts_per_s"] = n_points / (time.perf_counter() - start)
    out["optimize_s"] = timed(store.optimize)
    probes = rng.standard_normal((queries, dimension)).astype(np.float32)
    modes = [("", False)] + ([("exact_", True)] if hasattr(store, "exact") else [])
    for mode, exact in modes:
        if hasattr(store, "exact"):
            store.exact = exact  # type: ignore[attr-defined]
        search_figures(store, collection, probes, vectors, n_points, out, mode)
    if hasattr(store, "exact"):
        store.exact = False  # type: ignore[attr-defined]
    return out


def search_figures(store: VectorStore, collection: str, probes: np.ndarray, vectors: np.ndarray, n_points: int,
                   out: dict[str, Any], mode: str) -> None:
    for label, filters in (("tenant", None), ("tenant_source", {"source_type": "GITHUB"})):
        latencies = []
        short = 0  # answers with fewer than 10 hits (a filtered HNSW walk can run dry)
        for i, probe in enumerate(probes):
            t0 = time.perf_counter()
            hits = store.search(collection, probe, tenant=TENANTS[i % len(TENANTS)], filters=filters, limit=10)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert all(h.payload["tenant"] == TENANTS[i % len(TENANTS)] for h in hits), "another tenant's point"
            short += len(hits) < 10
        out[f"search_{mode}{label}_short_answers"] = short
        out[f"search_{mode}{label}_ms_p50"] = percentile(latencies, 50)
        out[f"search_{mode}{label}_ms_p95"] = percentile(latencies, 95)
    # Recall of the filtered search against exact brute force, on a few queries.
    recalls = []
    for i, probe in enumerate(probes[:20]):
        tenant = TENANTS[i % len(TENANTS)]
        idx = np.arange(i % len(TENANTS), n_points, len(TENANTS))
        exact = {str(uuid.UUID(int=int(j) + 1)) for j in idx[np.argsort(-(vectors[idx] @ probe))[:10]]}
        found = {h.id for h in store.search(collection, probe, tenant=tenant, limit=10)}
        recalls.append(len(exact & found) / 10)
    out[f"search_{mode}recall_at_10"] = float(np.mean(recalls))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embeddings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=50_000, help="points per store (default 50000)")
    parser.add_argument("--texts", type=int, default=512, help="texts for the embedder section (default 512)")
    parser.add_argument("--queries", type=int, default=300, help="searches per store (default 300)")
    parser.add_argument("--local-queries", type=int, default=30,
                        help="searches for qdrant-client local mode, which scans in Python (default 30)")
    parser.add_argument("--engines", default="edge,local", help="embedded engines to measure: edge,local")
    parser.add_argument("--skip-embedder", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true", help="skip the stage run in a worker process")
    parser.add_argument("--quick", action="store_true", help="2,000 points, 64 texts, 50 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.texts, args.queries, args.local_queries = 2000, 64, 50, 20
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus", "load_avg_at_start": os.getloadavg(),
    }
    scratch = Path(tempfile.mkdtemp(prefix="conveyor-bench-emb-"))
    try:
        if not args.skip_embedder:
            print("embedder ...", file=sys.stderr)
            results["embedder"] = {}
            bench_embedder(results["embedder"], args.texts, scratch, with_pipeline=not args.skip_pipeline)
        from conveyor.etl.embeddings.edge_store import EdgeStore
        from conveyor.etl.embeddings.qdrant_store import QdrantStore

        openers: dict[str, Callable[[Path], VectorStore]] = {"edge": EdgeStore, "local": QdrantStore.local}
        for engine in [e for e in args.engines.split(",") if e]:
            print(f"store {engine} ...", file=sys.stderr)
            store = openers[engine](scratch / engine)
            try:
                queries = args.local_queries if engine == "local" else args.queries
                results[f"store_{engine}"] = bench_store(engine, store, args.points, queries)
            finally:
                store.close()
            results[f"store_{engine}"]["folder_mb"] = sum(
                f.stat().st_blocks * 512 for f in (scratch / engine).rglob("*") if f.is_file()) / 1e6
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (RESULTS_DIR / f"{datetime.now(UTC):%Y-%m-%d}-embeddings{suffix}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
