"""What an operator does to jobs (cancel, retry, delete, requeue or purge dead letters), written
once: the rules and refusals come from core, each engine runs its named statement and announces
the change its own way."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace

from conveyor.model import JobState
from conveyor.store import core
from conveyor.store.base import JobFilter, Store


class OperatorActions(Store):
    @abstractmethod
    def _change_state(self, statement: str, job_id: str, from_states: list[str]) -> tuple[str, str] | None:
        """Run a one-job statement guarded by the states it may start from; (state, queue) of
        the changed job, None when the job was in another state."""

    @abstractmethod
    def _change_dead_letters(self, statement: str, filters: JobFilter) -> list[tuple[str, str]]:
        """Run a statement over the dead letters matching the filter; (id, queue) of each."""

    @abstractmethod
    def _announce(self, event: str, ids: list[str], wake: set[str]) -> None:
        """Tell listeners about changed jobs and wake the workers of queues with ready jobs."""

    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobState:
        job = self._require_job(job_id, tenant)
        changed = self._change_state("cancel_job", job.id, core.CANCELLABLE)
        if changed is None:
            raise core.cancel_refused(job)
        state = JobState(changed[0])
        self._announce("cancelled" if state is JobState.CANCELLED else "progress", [job.id], set())
        return state

    def retry_job(self, job_id: str, tenant: str | None = None) -> None:
        job = self._require_job(job_id, tenant)
        changed = self._change_state("retry_job", job.id, core.RETRYABLE)
        if changed is None:
            raise core.retry_refused(job)
        self._announce("queued", [job.id], {changed[1]})

    def delete_job(self, job_id: str, tenant: str | None = None) -> None:
        job = self._require_job(job_id, tenant)
        if self._change_state("delete_job", job.id, core.DELETABLE) is None:
            raise core.delete_refused(job)
        self._announce("deleted", [job.id], set())

    def requeue_dead(self, filters: JobFilter) -> int:
        rows = self._change_dead_letters("requeue_dead", replace(filters, states=list(core.DEAD_LETTER)))
        self._announce("queued", [i for i, _ in rows], {q for _, q in rows})
        return len(rows)

    def purge_dead(self, filters: JobFilter) -> int:
        rows = self._change_dead_letters("purge_dead", replace(filters, states=list(core.DEAD_LETTER)))
        self._announce("deleted", [i for i, _ in rows], set())
        return len(rows)
