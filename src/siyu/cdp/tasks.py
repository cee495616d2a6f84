"""Huey tasks of the CDP (djhuey's consumer imports each app's ``tasks`` module): each sub-package keeps its
own tasks module; importing it here registers its tasks with the worker."""

from .importing import tasks as import_tasks  # noqa: F401
from .ingest import tasks as ingest_tasks  # noqa: F401
from .segments import tasks as segment_tasks  # noqa: F401
