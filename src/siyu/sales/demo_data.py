"""Demo sales records for ``siyu demo`` and the console's browser gate: one of each thing a sales page shows,
created through the services (audited), idempotent by name.

``seed_demo(actor)`` returns the ids by the word their console routes use (``lead``, ``opportunity``,
``pipeline``, ``stage``, ``rule``, ``form``, ``activity``), which is the shape of the browser gate's
``candidates``."""

from __future__ import annotations

import datetime as dt

from siyu.kernel import clock
from siyu.kernel.actor import Actor

from .models.activities import Activity
from .models.assignment import AssignmentRule
from .models.forms import WebForm
from .models.leads import Lead
from .models.opportunities import Opportunity
from .models.pools import Pool
from .services import activities, assignment, forms, leads, opportunities, pools


def seed_demo(actor: Actor) -> dict[str, list[int]]:
    pool = Pool.objects.in_org(actor).filter(name="公海").first() or pools.create_pool(
        actor=actor, data={"name": "公海", "is_default": True, "max_held": 50, "recycle_no_followup_days": 7})
    pipe = opportunities.ensure_default_pipeline(actor)
    rule = AssignmentRule.objects.in_org(actor).filter(name="华东官网线索").first() or assignment.create_rule(
        actor=actor, data={"name": "华东官网线索", "conditions": [{"field": "region", "op": "eq", "value": "华东"}],
                           "sla_minutes": 30, "sla_remind_before_minutes": 10})
    form = WebForm.objects.in_org(actor).filter(name="官网咨询").first() or forms.create_form(
        actor=actor, data={"name": "官网咨询", "consent_text": "我同意接收产品与活动信息"})
    lead = Lead.objects.in_org(actor).filter(name="陈先生").first() or leads.create_lead(
        actor=actor, name="陈先生", phone="13912340000", source="web_form", fields={"company": "星河科技",
                                                                                    "region": "华东"}).lead
    leads.create_lead(actor=actor, name="林女士", phone="13912340001", source="wecom_live_code", pool_id=pool.pk)
    opp = Opportunity.objects.in_org(actor).filter(name="星河科技 年度订阅").first() or opportunities.create_opportunity(
        actor=actor, data={"name": "星河科技 年度订阅", "amount": "120000.00"})
    activity = Activity.objects.in_org(actor).filter(subject="电话回访").first() or activities.create_activity(
        actor=actor, data={"kind": "task", "subject": "电话回访", "lead_id": lead.pk,
                           "due_at": (clock.now() + dt.timedelta(days=1)).isoformat()})
    return {"lead": [lead.pk], "opportunity": [opp.pk], "pipeline": [pipe.pk],
            "stage": list(pipe.stages.values_list("pk", flat=True)[:1]), "rule": [rule.pk], "form": [form.pk],
            "activity": [activity.pk]}
