"""Recurring schedules: cron (in a time zone) or intervals, for any task or pipeline, fired exactly
once by whichever process leads the scheduler, inside the maintenance pass.

    @app.schedule(cron="0 2 * * *", timezone="Europe/Berlin")
    @app.task(queue="reports")
    def nightly_report(ctx): ...

    app.schedule("jira-sync", target="jira", interval=900, kwargs={"project": "ABC"}, tenant="acme")
    app.scheduler.create(build_spec(app, "adhoc", "reports.rebuild", interval=60))   # at run time
"""

from conveyor.schedules.scheduler import Scheduler, TickReport
from conveyor.schedules.spec import Schedule, ScheduleSpec, build_spec
from conveyor.schedules.timing import Misfire, ScheduleError

__all__ = ["Misfire", "Schedule", "ScheduleError", "ScheduleSpec", "Scheduler", "TickReport", "build_spec"]
