"""Sales' reactions, registered in one visible place: its scheduled actions (SLA sweeps, task reminders, bulk
job chunks). The worker imports this module through ``kernel.events.discover()``."""

from __future__ import annotations

from siyu.kernel import scheduled
from siyu.kernel.scheduled import DueAction

from .services import activities, assignment, bulk


def sla_sweep(due: DueAction) -> None:
    assignment.sla_sweep(due.org_id, due.args["kind"], due.due_at)


def task_remind(due: DueAction) -> None:
    activities.task_reminder(due.args["activity_id"])


def bulk_chunk(due: DueAction) -> None:
    bulk.run_chunk(due.args["job_id"], due.args["chunk"])


scheduled.register_action(assignment.SLA_ACTION, sla_sweep)
scheduled.register_action(activities.REMIND_ACTION, task_remind)
scheduled.register_action(bulk.ACTION, bulk_chunk)
