"""Sales' named operations (imported from ``SalesConfig.ready``)."""

from siyu.kernel.permissions import declare

declare(
    ("sales.lead.read", "View leads"),
    ("sales.lead.create", "Create and import leads"),
    ("sales.lead.update", "Edit leads, change their status"),
    ("sales.lead.assign", "Assign and transfer leads to salespeople"),
    ("sales.lead.convert", "Convert leads into account, contact and opportunity"),
    ("sales.lead.bulk", "Run bulk actions on leads (assign, transfer, recycle)"),
    ("sales.pool.read", "View lead and customer pools"),
    ("sales.pool.claim", "Claim from and release to pools"),
    ("sales.pool.manage", "Configure pools, claim limits and recycling rules"),
    ("sales.rule.manage", "Configure assignment rules, working hours and leave"),
    ("sales.form.manage", "Build web forms"),
    ("sales.pipeline.manage", "Configure pipelines, stages, stage gates and close reasons"),
    ("sales.opportunity.read", "View opportunities"),
    ("sales.opportunity.create", "Create opportunities"),
    ("sales.opportunity.update", "Edit opportunities, move them between stages, win or lose them"),
    ("sales.opportunity.approve", "Decide stage-gate approvals"),
    ("sales.activity.read", "View activities, visits and tasks"),
    ("sales.activity.create", "Log follow-ups and visits, create tasks"),
    ("sales.activity.update", "Edit and complete activities and tasks"),
    ("sales.dashboard.read", "View the sales funnel and manager dashboard"),
)
