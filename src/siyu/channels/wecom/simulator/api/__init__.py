"""The ``/cgi-bin`` endpoints, one module per area; each registers its handlers in ``dispatch.REGISTRY``.

No endpoint queues a callback: "通过API进行的操作不会产生回调" (protocol document §2.1). Limits come from
``channels/wecom/validation.py``, the constants Siyu's client checks before sending, so both sides share one table.
Error codes beyond the document's table are listed as *assumed* in ``docs/wecom-simulator.md``.
"""
