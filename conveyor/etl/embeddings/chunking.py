"""Token-aware chunking: a long text becomes overlapping pieces that each fit the model's window.

The model truncates past its window (256 tokens for all-MiniLM-L6-v2, [CLS] and [SEP] included),
so a long description would otherwise be embedded by its first paragraph only. Pieces are cut on
word boundaries (never inside a word split into subword tokens) and overlap by `overlap` tokens,
so a sentence cut at a boundary is still whole in one piece.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SPECIAL_TOKENS = 2  # [CLS] and [SEP] around every input


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int  # character offsets in the original text
    end: int


def chunk_text(text: str, token_spans: Callable[[str], list[tuple[int, int]]], max_tokens: int,
               overlap: int = 32) -> list[Chunk]:
    """Pieces of `text` of at most `max_tokens - 2` tokens each; [] for a blank text."""
    window = max_tokens - SPECIAL_TOKENS
    if window < 8:
        raise ValueError(f"max_tokens {max_tokens} leaves no room for text")
    if not 0 <= overlap < window // 2:
        raise ValueError(f"overlap must be between 0 and {window // 2 - 1} tokens, got {overlap}")
    spans = token_spans(text)
    if not spans:
        return []
    if len(spans) <= window:
        return [Chunk(0, text.strip(), spans[0][0], spans[-1][1])]
    chunks: list[Chunk] = []
    first = 0
    while first < len(spans):
        last = min(first + window, len(spans))  # exclusive
        if last < len(spans):
            last = _word_start_at_or_before(text, spans, last, floor=first + window // 2)
        start, end = spans[first][0], spans[last - 1][1]
        chunks.append(Chunk(len(chunks), text[start:end], start, end))
        if last == len(spans):
            break
        first = _word_start_at_or_before(text, spans, last - overlap, floor=first + 1)
    return chunks


def _word_start_at_or_before(text: str, spans: list[tuple[int, int]], i: int, floor: int) -> int:
    """The greatest token index j in [floor, i] that starts a word (not a subword continuation)."""
    for j in range(i, floor - 1, -1):
        if j == 0 or spans[j][0] != spans[j - 1][1]:
            return j
        if not text[spans[j][0]].isalnum() or not text[spans[j - 1][1] - 1].isalnum():
            return j  # punctuation on either side: not inside a word
    return i  # one word longer than half a window: cut it
