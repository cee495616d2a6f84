"""``siyu wecom-demo``: connect the demo organisation to the local WeCom simulator (``make run`` runs it once the
processes are up), so a newcomer can scan a live code in the simulator and watch the customer appear in Siyu.

Idempotent: the simulator's demo corp, Siyu's corp, the callback URL and the demo live code are created once
and reused afterwards.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.channels.wecom import corps, livecodes, sync
from siyu.channels.wecom.models import Corp, LiveCode
from siyu.channels.wecom.simulator import seed, state
from siyu.channels.wecom.simulator.actions import Sim
from siyu.channels.wecom.simulator.store import Store
from siyu.iam.models import Organization
from siyu.kernel.actor import Actor

DEMO_LIVE_CODE = "展会渠道码 / Expo live code"


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback URL we were given
                return
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() > deadline:
                raise CommandError(f"the WeCom simulator did not answer at {url}: {exc}") from exc
            time.sleep(0.5)


class Command(BaseCommand):
    help = "Connect the demo organisation to the WeCom simulator, with a demo live code."

    def add_arguments(self, parser):
        parser.add_argument("--org", default="", help="organisation id or slug (default: the demo organisation)")
        parser.add_argument("--sim-url", default="http://127.0.0.1:8300", help="the simulator's base URL")
        parser.add_argument("--public-url", default="http://127.0.0.1:8000", help="Siyu's URL, for callbacks")
        parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the simulator")

    def handle(self, *args, org: str, sim_url: str, public_url: str, wait: float, **opts):
        from siyu.console.management.commands.demo import ORG_NAME

        qs = Organization.objects.all()
        organisation = (qs.filter(slug=org) | qs.filter(pk=int(org) if org.isdigit() else 0)).first() if org \
            else qs.filter(name=ORG_NAME).order_by("pk").first()
        if organisation is None:
            raise CommandError("no such organisation (run `siyu demo` first)")
        actor = Actor.system(organisation.pk, label="siyu wecom-demo")
        sim_url = sim_url.rstrip("/")
        store = Store()
        try:
            creds = seed.seed_demo(Sim(store))["corp"]
            with transaction.atomic():
                corp = Corp.objects.in_org(actor).filter(corp_id=creds["corp_id"]).first() or corps.add_corp(
                    actor=actor, data={
                        "corp_id": creds["corp_id"], "name": "示例科技 WeCom (simulator)", "secret": creds["contact_secret"],
                        "callback_token": creds["token"], "encoding_aes_key": creds["aes_key"],
                        "agent_id": creds["agent_id"], "agent_secret": creds["agent_secret"],
                        "api_base": f"{sim_url}/cgi-bin/",
                    })
            callback = corps.callback_url(corp, base=public_url.rstrip("/"))
            state.set_callback_url(store, creds["corp_id"], callback)
        finally:
            store.close()
        _wait_for(f"{sim_url}/sim/status.json", wait)
        with transaction.atomic():
            sync.sync_employees(corp)
            code = LiveCode.objects.in_org(actor).filter(corp=corp, name=DEMO_LIVE_CODE).first()
            if code is None:
                code = livecodes.create_live_code(actor=actor, corp_pk=corp.pk, data={
                    "name": DEMO_LIVE_CODE, "channel_label": "2026 上海展会 / Shanghai Expo",
                    "source_label": "wecom_live_code",
                    "members": [{"userid": "zhangwei", "weight": 2}, {"userid": "liuyang", "weight": 1}],
                    "welcome": {"text": "您好，欢迎关注示例科技！我是您的专属顾问。"},
                })
        w = self.stdout.write
        w(self.style.SUCCESS("WeCom simulator connected / 企业微信模拟器已连接"))
        w(f"  simulator page / 模拟器页面:  {sim_url}/")
        w(f"  callback URL / 回调地址:      {callback}")
        w(f"  live code / 渠道活码:         {code.name} (state {code.state})")
        w(f"  try / 试一试:  siyu wecom-sim scan --state {code.state} --name 张三")
