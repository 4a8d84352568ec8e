"""Declaring a pipeline: ordered steps, each an ordered list of stages (a task on its own queue).

Pure: validation, step dependencies and queue templates are checked here without a database.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from conveyor.errors import InvalidJobError, UnknownTaskError

if TYPE_CHECKING:
    from conveyor.app import Task

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class PipelineError(InvalidJobError):
    """A pipeline declaration, start, or emit that cannot be accepted."""


class StepOrder(StrEnum):
    """When a step may start, relative to the step declared before it."""

    OVERLAP = "overlap"  # when the previous step's first stage has finished (the seed's default)
    WAIT = "wait"  # when the whole previous step has finished
    INDEPENDENT = "independent"  # at once: runs in parallel with the others


class OnFailure(StrEnum):
    FAIL_RUN = "fail_run"  # a dead stage job fails the run; its outstanding jobs are cancelled
    CONTINUE = "continue"  # the step ends `partial`; the rest of the run goes on


@dataclass(frozen=True)
class Stage:
    name: str
    task: str  # a registered task's name
    queue: str | None = None  # a queue name or a template like "extraction_queue_{tier}"; None: the task's queue


@dataclass(frozen=True)
class Step:
    name: str
    stages: tuple[Stage, ...]
    display_name: str = ""
    order: StepOrder = StepOrder.OVERLAP
    depends_on: tuple[str, ...] = ()  # explicit: start when these steps have wholly finished
    on_failure: OnFailure = OnFailure.FAIL_RUN


@dataclass(frozen=True)
class Dependency:
    step: str
    whole_step: bool  # False: only the first stage of `step` must have finished


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...]
    dependencies: Mapping[str, tuple[Dependency, ...]] = field(default_factory=dict)
    one_run_per: tuple[str, ...] = ()  # params whose values (with the tenant) allow one unfinished run

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.steps)
        raise PipelineError(f"Pipeline {self.name!r} has no step {name!r}.", action=f"Use one of: {known}.")

    def stage_index(self, step: str, stage: str) -> int:
        names = [s.name for s in self.step(step).stages]
        if stage not in names:
            raise PipelineError(f"Step {step!r} of pipeline {self.name!r} has no stage {stage!r}.",
                                action=f"Use one of: {', '.join(names)}.")
        return names.index(stage)

    def cells(self) -> list[tuple[str, str]]:
        return [(s.name, st.name) for s in self.steps for st in s.stages]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "steps": [
                {"name": s.name, "display_name": s.display_name, "order": i + 1, "step_order": s.order.value,
                 "on_failure": s.on_failure.value,
                 "depends_on": [{"step": d.step, "whole_step": d.whole_step} for d in self.dependencies[s.name]],
                 "stages": [{"name": st.name, "task": st.task, "queue": st.queue} for st in s.stages]}
                for i, s in enumerate(self.steps)
            ],
            "one_run_per": list(self.one_run_per),
        }


def _stage(raw: Any, where: str) -> Stage:
    if isinstance(raw, Stage):
        return raw
    if isinstance(raw, Mapping):
        extra = set(raw) - {"name", "task", "queue"}
        if extra or "name" not in raw or "task" not in raw:
            raise PipelineError(f"{where}: a stage is {{'name', 'task', 'queue'?}}, got keys {sorted(raw)}.",
                                action="Give each stage a name and a task.")
        task = raw["task"]
        return Stage(str(raw["name"]), str(getattr(task, "name", task)), raw.get("queue"))
    raise PipelineError(f"{where}: a stage must be a Stage or a dict, got {type(raw).__name__}.",
                        action="Write stages=[{'name': 'extraction', 'task': extract}, ...].")


def _step(raw: Any, index: int) -> Step:
    if isinstance(raw, Step):
        return raw
    if not isinstance(raw, Mapping):
        raise PipelineError(f"Step {index + 1} must be a Step or a dict, got {type(raw).__name__}.",
                            action="Write steps=[{'name': ..., 'stages': [...]}, ...].")
    allowed = {"name", "display_name", "stages", "order", "depends_on", "on_failure"}
    if set(raw) - allowed or "name" not in raw:
        raise PipelineError(f"Step {index + 1}: unknown or missing keys in {sorted(raw)}.",
                            action=f"A step takes {sorted(allowed)} ('name' and 'stages' required).")
    name = str(raw["name"])
    stages = raw.get("stages")
    if not isinstance(stages, Sequence) or isinstance(stages, str | bytes) or not stages:
        raise PipelineError(f"Step {name!r} has no stages.", action="Give it a list of at least one stage.")
    try:
        order, on_failure = StepOrder(raw.get("order", "overlap")), OnFailure(raw.get("on_failure", "fail_run"))
    except ValueError as exc:
        raise PipelineError(f"Step {name!r}: {exc}.", action="order is overlap|wait|independent; "
                            "on_failure is fail_run|continue.") from None
    depends = raw.get("depends_on", ())
    if isinstance(depends, str):
        depends = (depends,)
    return Step(name=name, stages=tuple(_stage(s, f"Step {name!r}") for s in stages),
                display_name=str(raw.get("display_name") or name.replace("_", " ").title()),
                order=order, depends_on=tuple(depends), on_failure=on_failure)


def dependencies(steps: Sequence[Step]) -> dict[str, tuple[Dependency, ...]]:
    """What each step waits for: explicit depends_on, else what its order says about the step before."""
    deps: dict[str, tuple[Dependency, ...]] = {}
    for i, step in enumerate(steps):
        if step.depends_on:
            deps[step.name] = tuple(Dependency(d, True) for d in step.depends_on)
        elif i == 0 or step.order is StepOrder.INDEPENDENT:
            deps[step.name] = ()
        else:
            deps[step.name] = (Dependency(steps[i - 1].name, step.order is StepOrder.WAIT),)
    return deps


def find_cycle(deps: Mapping[str, Sequence[Dependency]]) -> list[str] | None:
    """A list of step names forming a cycle, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in deps.get(name, ()):
            if state.get(dep.step) == 1:
                return path[path.index(dep.step):] + [dep.step]
            if dep.step not in state and (found := visit(dep.step)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in deps:
        if name not in state and (found := visit(name)):
            return found
    return None


def build_pipeline(name: str, steps: Sequence[Any], tasks: Mapping[str, Task[Any, Any]],
                   one_run_per: Sequence[str] = ()) -> Pipeline:
    """Validate a declaration against the registered tasks; a clear error for every mistake."""
    if isinstance(one_run_per, str | bytes) or not all(isinstance(p, str) and NAME.match(p) for p in one_run_per):
        raise PipelineError(f"Pipeline {name!r}: one_run_per must be a list of param names, got {one_run_per!r}.",
                            action="Pass e.g. one_run_per=['integration_id'].")
    if not isinstance(name, str) or not NAME.match(name):
        raise PipelineError(f"Invalid pipeline name {name!r}.", action="Use 1-100 letters, digits and _ . : -")
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or not steps:
        raise PipelineError(f"Pipeline {name!r} has no steps.", action="Pass steps=[{'name': ..., 'stages': [...]}].")
    built = tuple(_step(s, i) for i, s in enumerate(steps))
    seen: set[str] = set()
    for step in built:
        if not NAME.match(step.name) or step.name in seen:
            raise PipelineError(f"Pipeline {name!r}: step name {step.name!r} is invalid or used twice.",
                                action="Give every step a distinct name of letters, digits and _ . : -")
        seen.add(step.name)
        stage_names = [st.name for st in step.stages]
        if len(set(stage_names)) != len(stage_names) or not all(NAME.match(n) for n in stage_names):
            raise PipelineError(f"Step {step.name!r}: stage names {stage_names} are invalid or repeated.",
                                action="Give every stage of a step a distinct name.")
        for stage in step.stages:
            if stage.task not in tasks:
                raise UnknownTaskError(
                    f"Stage {stage.name!r} of step {step.name!r} names task {stage.task!r}, which is not registered.",
                    action=f"Register it with @app.task first; known tasks: {', '.join(sorted(tasks)) or 'none'}.")
            if stage.queue is not None:
                template_fields(stage.queue)
    for step in built:
        for dep in step.depends_on:
            if dep not in seen:
                raise PipelineError(f"Step {step.name!r} depends on unknown step {dep!r}.",
                                    action=f"Use one of: {', '.join(s.name for s in built)}.")
    deps = dependencies(built)
    cycle = find_cycle(deps)
    if cycle:
        raise PipelineError(f"Pipeline {name!r}: the step dependencies form a cycle: {' -> '.join(cycle)}.",
                            action="Remove one of the depends_on entries.")
    return Pipeline(name=name, steps=built, dependencies=deps, one_run_per=tuple(one_run_per))


def template_fields(template: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise PipelineError(f"Queue template {template!r} is malformed: {exc}.",
                            action="Write e.g. 'extraction_queue_{tier}'.") from None
    return [f for _, f, _, _ in parsed if f is not None]


def fill_queue(template: str, values: Mapping[str, Any]) -> str:
    """'extraction_queue_{tier}' + {'tier': 'premium'} -> 'extraction_queue_premium'."""
    missing = [f for f in template_fields(template) if f not in values]
    if missing:
        raise PipelineError(f"Queue template {template!r} needs {', '.join(missing)}, which the run does not give.",
                            action=f"Pass {', '.join(missing)} in start(...) params (or tier=...).")
    queue = template.format_map({k: str(v) for k, v in values.items()})
    if not QUEUE_NAME.match(queue):
        raise PipelineError(f"Queue template {template!r} gives invalid queue name {queue!r}.",
                            action="Template values may use only letters, digits and _ . : -")
    return queue


def stage_queues(pipeline: Pipeline, values: Mapping[str, Any],
                 task_queue: Callable[[str], str]) -> dict[str, str]:
    """Every stage's queue for one run, keyed 'step/stage'."""
    return {f"{step.name}/{st.name}": fill_queue(st.queue, values) if st.queue else task_queue(st.task)
            for step in pipeline.steps for st in step.stages}
