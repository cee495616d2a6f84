"""``siyu createorg --name NAME --admin-email EMAIL --admin-password PASSWORD``: a new organisation with its
first administrator; prints the organisation's id and slug."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.iam import services
from siyu.kernel.errors import DomainError


def domain_error_text(exc: DomainError) -> str:
    details = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message


class Command(BaseCommand):
    help = "Create an organisation and its first administrator; prints the organisation's id and slug."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the organisation's name")
        parser.add_argument("--admin-email", required=True, help="the first administrator's email")
        parser.add_argument("--admin-password", required=True,
                            help="their password (ignored when the person already has an account)")
        parser.add_argument("--admin-name", default="", help="their display name")

    def handle(self, *args, **opts):
        try:
            with transaction.atomic():
                membership = services.create_organization(
                    name=opts["name"], admin_email=opts["admin_email"], admin_password=opts["admin_password"],
                    admin_name=opts["admin_name"],
                )
        except DomainError as exc:
            raise CommandError(domain_error_text(exc)) from exc
        org = membership.org
        self.stdout.write(f"id={org.pk} slug={org.slug}")
