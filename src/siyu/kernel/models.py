"""Kernel tables. See outbox.py, scheduled.py and idempotency.py for the models' behaviour."""
