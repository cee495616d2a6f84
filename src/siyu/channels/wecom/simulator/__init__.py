"""A local server that behaves like WeCom and the WeChat official account for what Siyu uses (``siyu wecom-sim``).

See ``docs/wecom-simulator.md``. This package must not import Django: it runs in its own process with its own
SQLite file.
"""
