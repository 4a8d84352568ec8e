"""A task's parameters, checked at enqueue: arguments that cannot bind are refused before anything
is written, naming the parameter (instead of a job that fails with TypeError on every attempt)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from conveyor.errors import InvalidJobError

_EMPTY = inspect.Parameter.empty


class TaskSignature:
    """The parameters a job's args/kwargs bind to (the leading `ctx` left out). The check runs for
    every enqueued job, so it works on sets and counts prepared once, not on inspect.bind."""

    def __init__(self, fn: Callable[..., Any], *, skip_first: bool) -> None:
        params = list(inspect.signature(fn).parameters.values())
        self.params = params[1:] if skip_first else params
        kinds = inspect.Parameter
        self.positional = [p.name for p in self.params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        self.positional_only = {p.name for p in self.params if p.kind == kinds.POSITIONAL_ONLY}
        self.keywords = {p.name for p in self.params if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
        self.required = [p.name for p in self.params
                         if p.default is _EMPTY and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)]
        self.var_args = any(p.kind == kinds.VAR_POSITIONAL for p in self.params)
        self.var_kwargs = any(p.kind == kinds.VAR_KEYWORD for p in self.params)
        # Fast path for positional-only calls (bulk enqueue): how many args bind with no kwargs.
        required_keyword_only = any(n not in self.positional for n in self.required)
        self._fewest_args = len(self.positional) + 1 if required_keyword_only else len(
            [n for n in self.positional if n in self.required])
        self._most_args = 1 << 30 if self.var_args else len(self.positional)

    def check(self, task: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Raise InvalidJobError naming the parameter when the arguments cannot bind."""
        if not kwargs and self._fewest_args <= len(args) <= self._most_args:
            return
        if len(args) > len(self.positional) and not self.var_args:
            raise self._error(task, f"takes {len(self.positional)} positional argument(s) but {len(args)} were given",
                              "args")
        given = set(self.positional[:len(args)])
        for name in kwargs:
            if name in given:
                raise self._error(task, f"got parameter {name!r} twice (in args and in kwargs)", name)
            if name in self.positional_only or (name not in self.keywords and not self.var_kwargs):
                raise self._error(task, f"has no parameter {name!r}", name)
        missing = [n for n in self.required if n not in given and n not in kwargs]
        if missing:
            raise self._error(task, f"is missing required parameter(s) {', '.join(map(repr, missing))}", missing[0])

    def _error(self, task: str, problem: str, parameter: str) -> InvalidJobError:
        error = InvalidJobError(
            f"Task {task!r} {problem}.",
            action=f"Call it as {task}({self.describe()}).",
            technical_details=f"parameter: {parameter}",
        )
        error.parameter = parameter
        return error

    def describe(self) -> str:
        return ", ".join(str(p).split(":")[0].split("=")[0].strip() + ("=..." if p.default is not _EMPTY else "")
                         for p in self.params)

    def to_list(self) -> list[dict[str, Any]]:
        """What the API and the Run-now form show: name, whether required, the real default."""
        out = []
        for p in self.params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            item: dict[str, Any] = {"name": p.name, "required": p.default is _EMPTY,
                                    "keyword": p.kind != p.POSITIONAL_ONLY}
            if p.default is not _EMPTY:
                item["default"] = p.default if _is_json(p.default) else repr(p.default)
                item["default_is_json"] = _is_json(p.default)
            if p.annotation is not _EMPTY:
                item["annotation"] = p.annotation if isinstance(p.annotation, str) else getattr(
                    p.annotation, "__name__", str(p.annotation))
            out.append(item)
        return out


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False
