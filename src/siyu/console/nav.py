"""The console's default navigation: a place for every context of the architecture.

Pages that exist link to their view by URL name; the rest show an honest empty state built from ``summary`` and
``planned``. A context that builds its pages replaces an entry by declaring one with the same key in its own
``nav.py`` (see ``console/navigation.py``). Settings entries for iam, audit and platform live here because those
contexts may not import the console and their pages are wired by URL name only.
"""

from django.utils.translation import gettext_lazy as _

NAV = [
    # --- overview -------------------------------------------------------------------------------------------
    {"key": "home.dashboard", "section": "home", "label": _("Dashboard"), "url_name": "home",
     "permission": "", "icon": "house", "order": 0},
    # --- customers (CDP) ------------------------------------------------------------------------------------
    {"key": "cdp.profiles", "section": "cdp", "label": _("Customer profiles"), "url_name": "cdp_profiles",
     "permission": "cdp.profile.read", "icon": "person-vcard", "order": 10,
     "summary": _("One 360° profile per customer, merged from WeCom, the official account, mini-programs, the ERP "
                  "and imports by identity resolution."),
     "planned": [_("Timeline of every touch point and order"), _("Tags, consent and lifecycle stage"),
                 _("Import from spreadsheets with duplicate checks")]},
    {"key": "cdp.segments", "section": "cdp", "label": _("Segments"), "url_name": "cdp_segments",
     "permission": "cdp.segment.read", "icon": "diagram-3", "order": 20,
     "summary": _("Dynamic groups of customers defined by rules over profile fields, tags and behaviour."),
     "planned": [_("Rule builder with live counts"), _("Personas describing target groups"),
                 _("Use a segment in broadcasts and journeys")]},
    # --- WeCom & channels -----------------------------------------------------------------------------------
    {"key": "channels.wecom", "section": "channels", "label": _("WeCom"), "url_name": "channels_wecom",
     "permission": "channels.wecom.read", "icon": "wechat", "order": 10,
     "summary": _("Connect WeCom: external contacts, follow users, corp tags and customer group chats, kept in sync."),
     "planned": [_("Channel live codes with welcome messages"), _("Broadcasts and Moments"),
                 _("Resigned and on-job transfer of customers"), _("Conversation archive with consent")]},
    {"key": "channels.official_account", "section": "channels", "label": _("Official account"),
     "url_name": "channels_official_account", "permission": "channels.official_account.read",
     "icon": "broadcast", "order": 20,
     "summary": _("Followers and template messages of the WeChat official account, linked to customer profiles "
                  "by unionid."),
     "planned": [_("Follower sync and menu events"), _("Template messages with delivery status")]},
    # --- marketing ------------------------------------------------------------------------------------------
    {"key": "marketing.campaigns", "section": "marketing", "label": _("Campaigns"),
     "url_name": "marketing_campaigns", "permission": "marketing.campaign.read", "icon": "flag", "order": 10,
     "summary": _("Plan campaigns with a budget and goals, and measure their return from real orders."),
     "planned": [_("Tracked links, posters and referrals"), _("ROI, CAC and attribution per channel")]},
    {"key": "marketing.journeys", "section": "marketing", "label": _("Journeys"), "url_name": "marketing_journeys",
     "permission": "marketing.journey.read", "icon": "signpost-split", "order": 20,
     "summary": _("Automated nurturing flows: when something happens, if conditions hold, then act."),
     "planned": [_("Triggers, waits, branches and actions"), _("Lead scoring that hands leads to sales")]},
    # --- sales ----------------------------------------------------------------------------------------------
    {"key": "sales.leads", "section": "sales", "label": _("Leads"), "url_name": "sales_leads",
     "permission": "sales.lead.read", "icon": "funnel", "order": 10,
     "summary": _("Possible customers not yet qualified, with public pools, claim and recycle rules and assignment."),
     "planned": [_("Lead pools with claim limits"), _("Assignment rules by region and load")]},
    {"key": "sales.opportunities", "section": "sales", "label": _("Opportunities"),
     "url_name": "sales_opportunities", "permission": "sales.opportunity.read", "icon": "kanban", "order": 20,
     "summary": _("Qualified deals moving through pipeline stages to won or lost."),
     "planned": [_("Pipeline board and forecast"), _("Quotes, contracts, orders and payment collection"),
                 _("Follow-ups and field visits with check-in")]},
    # --- service desk ---------------------------------------------------------------------------------------
    {"key": "servicedesk.tickets", "section": "servicedesk", "label": _("Tickets"), "url_name": "servicedesk_tickets",
     "permission": "servicedesk.ticket.read", "icon": "ticket-detailed", "order": 10,
     "summary": _("Service requests from every channel, dispatched by skill, area and load, tracked against SLAs."),
     "planned": [_("SLA timers on business calendars"), _("Satisfaction surveys after service"),
                 _("Knowledge base")]},
    # --- platform -------------------------------------------------------------------------------------------
    {"key": "platform.objects", "section": "platform", "label": _("Custom objects"), "url_name": "platform_objects",
     "permission": "platform.object.read", "icon": "boxes", "order": 10,
     "summary": _("Define your own objects with fields, layouts and list views, without code or migrations. "
                  "Custom fields on standard objects are under Settings."),
     "planned": [_("Object definitions and record pages"), _("Layouts and saved list views")]},
    {"key": "platform.workflows", "section": "platform", "label": _("Workflows"), "url_name": "platform_workflows",
     "permission": "platform.workflow.read", "icon": "diagram-2", "order": 20,
     "summary": _("Workflow rules and approval processes: a record changes, conditions are checked, actions run."),
     "planned": [_("Approval processes with conditional approvers"), _("RACI matrices for assignment")]},
    # --- analytics, intelligence, compliance, integrations --------------------------------------------------
    {"key": "analytics.dashboards", "section": "analytics", "label": _("Dashboards & reports"),
     "url_name": "analytics_dashboards", "permission": "analytics.dashboard.read", "icon": "graph-up", "order": 10,
     "summary": _("KPIs, funnels and lifecycle break points from read models, with SMART goals and exports."),
     "planned": [_("Funnel and lifecycle reports"), _("Goals tracked from live data"), _("Scheduled exports")]},
    {"key": "intelligence.insights", "section": "intelligence", "label": _("Insights"),
     "url_name": "intelligence_insights", "permission": "intelligence.insight.read", "icon": "lightbulb",
     "order": 10,
     "summary": _("Predictive scores, churn warnings, next best actions and conversation insight."),
     "planned": [_("Churn and purchase propensity"), _("Recommendations for follow-up")]},
    {"key": "compliance.requests", "section": "compliance", "label": _("Data subject requests"),
     "url_name": "compliance_requests", "permission": "compliance.request.read", "icon": "person-lock",
     "order": 10,
     "summary": _("PIPL duties: processing purposes, consent, access and deletion requests, retention and masking."),
     "planned": [_("Requests with deadlines"), _("Retention policies"), _("Records of processing")]},
    {"key": "integrations.webhooks", "section": "integrations", "label": _("Webhooks & connectors"),
     "url_name": "integrations_webhooks", "permission": "integrations.webhook.read", "icon": "plug", "order": 10,
     "summary": _("Outbound webhooks, inbound webhooks and ERP connectors that end data silos."),
     "planned": [_("Signed outbound webhooks with retries"), _("ERP order and customer sync")]},
    # --- settings (pages of iam, platform and audit) --------------------------------------------------------
    {"key": "settings.organization", "section": "settings", "label": _("Organisation"),
     "url_name": "iam_organization", "permission": "iam.organization.manage", "icon": "building", "order": 5,
     "summary": _("The organisation's name and whether administrators must use a second factor.")},
    {"key": "settings.users", "section": "settings", "label": _("Users"), "url_name": "iam_users",
     "permission": "iam.user.read", "icon": "people", "order": 10,
     "summary": _("Invite people, place them in departments, give them roles, disable them.")},
    {"key": "settings.departments", "section": "settings", "label": _("Departments"), "url_name": "iam_departments",
     "permission": "iam.department.read", "icon": "diagram-3", "order": 20,
     "summary": _("The department tree that data scopes follow.")},
    {"key": "settings.roles", "section": "settings", "label": _("Roles & permissions"), "url_name": "iam_roles",
     "permission": "iam.role.read", "icon": "person-badge", "order": 30,
     "summary": _("Roles hold named permissions; a member's access is the union of their roles.")},
    {"key": "settings.data_scopes", "section": "settings", "label": _("Data scopes"), "url_name": "iam_data_scopes",
     "permission": "iam.role.read", "icon": "bullseye", "order": 40,
     "summary": _("Per role and object: own records, department, department and below, or the whole organisation.")},
    {"key": "settings.field_security", "section": "settings", "label": _("Field security"),
     "url_name": "iam_field_security", "permission": "iam.role.read", "icon": "eye-slash", "order": 50,
     "summary": _("Per role and field: hidden or read-only.")},
    {"key": "settings.fields", "section": "settings", "label": _("Custom fields"), "url_name": "platform_fields",
     "permission": "platform.field.manage", "icon": "input-cursor-text", "order": 60,
     "summary": _("Add fields to standard objects without migrations; values are validated on every write.")},
    {"key": "settings.api_keys", "section": "settings", "label": _("API keys"), "url_name": "iam_api_keys",
     "permission": "iam.apikey.manage", "icon": "key", "order": 70,
     "summary": _("Scoped keys for the REST API, hashed at rest and shown once.")},
    {"key": "settings.audit", "section": "settings", "label": _("Audit log"), "url_name": "audit_log",
     "permission": "audit.entry.read", "icon": "journal-text", "order": 80,
     "summary": _("Every write, login and export, hash-chained per organisation.")},
]
