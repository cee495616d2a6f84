"""Knobs of the simulator. Defaults are WeCom's published values (protocol document §2); tests lower them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimConfig:
    token_ttl: int = 7200  # gettoken / token ``expires_in``
    welcome_window: float = 20.0  # seconds a welcome_code stays usable
    takeover_delay: float = 24 * 3600.0  # transfer_customer: automatic takeover after 24 h
    transfer_window: float = 90 * 86400.0  # ≤ 2 transfers per customer in this window
    transfers_per_window: int = 2
    group_qr_capacity: int = 200  # members a group takes through a join-way QR before the next group is used
    broadcast_confirm_delay: float = 0.0  # seconds until a member "confirms" a broadcast in the client
    broadcast_dispatch_seconds: float = 0.0  # get_groupmsg_send_result answers 41063 this long after confirm
    # Frequency limits per corp and per API, per IP and per API (doc path/90454, 2023-08-28).
    corp_per_minute: int = 10_000
    corp_per_hour: int = 150_000
    ip_per_minute: int = 20_000
    ip_per_hour: int = 600_000
    debug_per_minute: int = 5  # ``?debug=1`` lowers the limit to 5/min
    max_concurrency: int = 64  # in-flight calls per corp and API before 45033
    api_latency: float = 0.0  # artificial seconds per API call (to exercise 45033)
    oa_template_daily_quota: int = 100_000
    # Callback delivery: 5 s to answer, then up to 3 retries of the identical request.
    callback_timeout: float = 5.0
    retry_delays: tuple[float, ...] = field(default=(2.0, 5.0, 10.0))
    dispatcher_threads: int = 4
    tick_interval: float = 0.5  # background processing of due transfers and broadcasts
