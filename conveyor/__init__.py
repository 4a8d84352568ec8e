"""Conveyor: background jobs where the database is the queue and no job is silently stuck or lost."""

__version__ = "0.1.0"

from conveyor.app import Conveyor, JobHandle, Task
from conveyor.context import JobContext, current_job
from conveyor.errors import (
    ConveyorError,
    JobCancelledError,
    NoLiveWorkerError,
    PermanentError,
    UnknownTaskError,
)
from conveyor.model import EnqueuePolicy, Job, JobState, RetryPolicy

__all__ = [
    "Conveyor",
    "ConveyorError",
    "EnqueuePolicy",
    "Job",
    "JobCancelledError",
    "JobContext",
    "JobHandle",
    "JobState",
    "NoLiveWorkerError",
    "PermanentError",
    "RetryPolicy",
    "Task",
    "UnknownTaskError",
    "__version__",
    "current_job",
]
