"""Errors a user can meet. Each message says what happened and what to do next."""

from __future__ import annotations

from typing import Any


class ConveyorError(Exception):
    """Base class. `action` tells the user what to do; `technical_details` helps debugging."""

    action: str = ""
    technical_details: str = ""

    def __init__(self, message: str, *, action: str = "", technical_details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action or self.action
        self.technical_details = technical_details or self.technical_details

    def __str__(self) -> str:
        return f"{self.message} {self.action}".strip()

    def to_dict(self) -> dict[str, str]:
        return {"error": self.message, "action": self.action, "technical_details": self.technical_details}


class ConfigurationError(ConveyorError):
    """Bad settings: malformed database URL, unknown option value."""


class DatabaseUnavailableError(ConveyorError):
    """The database cannot be reached."""


class DatabaseError(DatabaseUnavailableError):
    """A database call failed; the driver's own error is the cause. `transient` when the driver
    calls it operational (connection lost, server shutting down, database locked): retry later."""

    def __init__(self, message: str, *, transient: bool, driver_error: str, **kwargs: str) -> None:
        super().__init__(message, **kwargs)
        self.transient = transient
        self.driver_error = driver_error  # "OperationalError: server closed the connection ..."

    @classmethod
    def from_driver(cls, exc: BaseException) -> DatabaseError:
        # Recognised by shape (DB-API names), so this module imports no driver.
        transient = any(kind.__name__ == "OperationalError" for kind in type(exc).__mro__)
        detail = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        return cls(
            f"The database did not answer ({detail})." if transient
            else f"The database refused the statement ({detail}).",
            transient=transient, driver_error=detail,
            action="Retry in a moment; if it persists check the database server and the connection URL."
            if transient else "Report it with the server log around this time.",
            technical_details=detail,
        )


class SchemaOutdatedError(ConveyorError):
    """The database schema is older than this version of Conveyor needs."""


class UnknownTaskError(ConveyorError):
    """No task of that name is registered with the app."""


class InvalidJobError(ConveyorError):
    """Arguments that are not JSON or do not fit the task's signature, a negative delay, a bad
    queue name... `parameter` names the task parameter at fault, when there is one."""

    parameter: str | None = None


class JobNotFoundError(ConveyorError):
    """No job with that id (never a made-up 'pending')."""


class InvalidTransitionError(ConveyorError):
    """The job is not in a state that allows the requested action."""


class RunConflictError(InvalidTransitionError):
    """A pipeline declared with one_run_per already has an unfinished run for these params;
    `run_id` names it when it could be found (also in the HTTP 409 body)."""

    run_id: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), **({"run_id": self.run_id} if self.run_id else {})}


class NoLiveWorkerError(ConveyorError):
    """Enqueue refused: no live worker serves the job's queue."""

    def __init__(self, queue: str, app_path: str | None = None, *, paused_workers: int = 0) -> None:
        self.queue = queue
        from conveyor.commands import worker_command  # here: commands is a leaf, errors is imported first

        self.paused_workers = paused_workers
        paused = (
            f" {paused_workers} paused worker(s) serve it: resume them with "
            f"'conveyor workers resume' or from the dashboard."
            if paused_workers
            else ""
        )
        super().__init__(
            f"No live worker serves queue '{queue}' - the job would stay queued, so it was not "
            f"accepted.{paused}",
            action=f"Start one with: {worker_command(app_path, queue)}",
            technical_details=(
                f"No worker with a heartbeat inside the liveness timeout lists queue '{queue}'. "
                "Use policy='accept' to queue jobs for workers that start later."
            ),
        )


    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "queue": self.queue}


class LivenessCheckError(ConveyorError):
    """The live-worker check itself failed: we never assume workers are running."""


class PermanentError(Exception):
    """Raise from a task to fail the job without retrying (bad arguments, missing data...)."""


class ParkJob(Exception):  # noqa: N818 - a decision, not a failure
    """Raise from a task to stop now and run again at `resume_at` (an aware datetime) without
    spending an attempt: a rate limit asked for a wait too long to sleep through a worker slot."""

    def __init__(self, resume_at: Any, reason: str) -> None:
        super().__init__(reason)
        self.resume_at = resume_at
        self.reason = reason


class JobTimeoutError(Exception):
    """Raised into (or recorded for) an attempt that ran past its timeout."""


class JobCancelledError(Exception):
    """Raised inside a task whose job was cancelled."""


class JobFailedError(ConveyorError):
    """job.wait() saw the job end in failed or dead state."""
