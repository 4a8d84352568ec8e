"""Conveyor: background jobs where the database is the queue and no job is silently stuck or lost."""

__version__ = "0.1.0"

from conveyor.app import Conveyor, JobHandle, Task  # noqa: E402
from conveyor.context import JobContext, current_job  # noqa: E402
from conveyor.errors import (  # noqa: E402
    ConveyorError,
    JobCancelledError,
    NoLiveWorkerError,
    PermanentError,
    UnknownTaskError,
)
from conveyor.model import EnqueuePolicy, Job, JobState, RetryPolicy  # noqa: E402

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
