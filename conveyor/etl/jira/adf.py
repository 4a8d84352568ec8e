"""Plain text from Atlassian Document Format, the JSON that REST v3 returns for rich-text
fields (description, comments, multi-line custom fields)."""

from __future__ import annotations

from typing import Any

_BLOCKS = frozenset({"paragraph", "heading", "blockquote", "codeBlock", "listItem", "tableRow", "panel",
                     "rule", "mediaGroup", "decisionItem", "taskItem"})


def document_text(node: Any) -> str:
    """The text of an ADF node (or of a plain string, returned as is), blocks on their own lines."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    parts: list[str] = []
    _collect(node, parts)
    lines = "".join(parts).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _collect(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _collect(child, parts)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "text":
        parts.append(str(node.get("text", "")))
    elif kind == "hardBreak":
        parts.append("\n")
    elif kind in ("mention", "emoji", "status", "date", "inlineCard"):
        attrs = node.get("attrs") or {}
        parts.append(str(attrs.get("text") or attrs.get("shortName") or attrs.get("url") or ""))
    _collect(node.get("content") or [], parts)
    if kind in _BLOCKS:
        parts.append("\n")
