"""Console URLs of sales, mounted at ``sales/`` by the console (``include("siyu.sales.urls")``)."""

from django.urls import path

from . import bulk_pages, pages

urlpatterns = [
    path("", pages.dashboard, name="sales_dashboard"),
    path("funnel.json", pages.funnel_json, name="sales_funnel_json"),
    path("pipeline-by-stage.json", pages.stages_json, name="sales_stages_json"),
    path("leads/", pages.lead_list, name="sales_leads"),
    path("leads/new/", pages.lead_create, name="sales_lead_create"),
    path("leads/<int:lead_id>/", pages.lead_page, name="sales_lead"),
    path("leads/<int:lead_id>/status/", pages.lead_status, name="sales_lead_status"),
    path("leads/<int:lead_id>/assign/", pages.lead_assign, name="sales_lead_assign"),
    path("leads/<int:lead_id>/release/", pages.lead_release, name="sales_lead_release"),
    path("leads/<int:lead_id>/claim/", pages.lead_claim, name="sales_lead_claim"),
    path("leads/<int:lead_id>/convert/", pages.lead_convert, name="sales_lead_convert"),
    path("leads/<int:lead_id>/activities/", pages.lead_activity, name="sales_lead_activity"),
    path("leads/bulk/", bulk_pages.bulk_start, name="sales_bulk_start"),
    path("bulk-jobs/", bulk_pages.bulk_jobs, name="sales_bulk_jobs"),
    path("bulk-jobs/<int:bulk_job_id>/", bulk_pages.bulk_job, name="sales_bulk_job"),
    path("bulk-jobs/<int:bulk_job_id>/progress/", bulk_pages.bulk_progress, name="sales_bulk_progress"),
    path("pools/", pages.pool_page, name="sales_pools"),
    path("pools/settings/", pages.pool_settings, name="sales_pool_settings"),
    path("assignment-rules/", pages.rule_list, name="sales_rules"),
    path("assignment-rules/<int:rule_id>/", pages.rule_page, name="sales_rule"),
    path("pipelines/", pages.pipeline_list, name="sales_pipelines"),
    path("pipelines/<int:pipeline_id>/", pages.pipeline_page, name="sales_pipeline"),
    path("pipelines/<int:pipeline_id>/board/", pages.opportunity_board, name="sales_board"),
    path("stages/<int:stage_id>/", pages.stage_save, name="sales_stage"),
    path("stages/<int:stage_id>/cards/", pages.stage_cards, name="sales_stage_cards"),
    path("opportunities/", pages.opportunity_board_default, name="sales_opportunities"),
    path("opportunities/new/", pages.opportunity_create, name="sales_opportunity_create"),
    path("opportunities/<int:opportunity_id>/", pages.opportunity_page, name="sales_opportunity"),
    path("opportunities/<int:opportunity_id>/move/", pages.opportunity_move, name="sales_opportunity_move"),
    path("opportunities/<int:opportunity_id>/action/", pages.opportunity_action, name="sales_opportunity_action"),
    path("activities/<int:activity_id>/photo/", pages.activity_photo, name="sales_activity_photo"),
    path("activities/<int:activity_id>/complete/", pages.activity_complete, name="sales_activity_complete"),
    path("calendar/", pages.calendar_page, name="sales_calendar"),
    path("forms/", pages.form_list, name="sales_forms"),
    path("forms/<int:form_id>/", pages.form_page, name="sales_form"),
]
