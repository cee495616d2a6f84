"""jobs.enqueue_on_commit: a huey task goes onto the queue only once the transaction that asked for it commits."""

from __future__ import annotations

import pytest
from django.db import transaction

from siyu.kernel import jobs


class FakeTask:
    """Stands in for a huey TaskWrapper: calling it is what enqueues."""

    def __init__(self):
        self.enqueued = []

    def __call__(self, *args, **kwargs):
        self.enqueued.append((args, kwargs))


def test_enqueued_after_commit_with_its_arguments(db, django_capture_on_commit_callbacks):
    task = FakeTask()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue_on_commit(task, 7, 8, org_id=1)
        assert task.enqueued == []
    assert task.enqueued == [((7, 8), {"org_id": 1})]


@pytest.mark.django_db(transaction=True)
def test_nothing_enqueued_when_the_transaction_rolls_back():
    task = FakeTask()
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.enqueue_on_commit(task, 7)
        raise RuntimeError("the change failed")
    assert task.enqueued == []
    jobs.enqueue_on_commit(task, 9)  # outside a transaction: at once
    assert task.enqueued == [((9,), {})]


@pytest.mark.django_db(transaction=True)
def test_a_queue_that_cannot_take_the_task_does_not_fail_the_committed_change():
    def broken(*args):
        raise ConnectionError("redis is down")

    with transaction.atomic():
        jobs.enqueue_on_commit(broken, 7)  # logged by Django's robust on_commit, not raised
