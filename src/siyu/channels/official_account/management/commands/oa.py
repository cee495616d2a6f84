"""``siyu oa add-account --org ORG --app-id ID --token TOKEN --aes-key KEY --secret SECRET [--api-base URL]
[--name NAME] [--template-id ID] [--public-url URL]``: connect an official account and print the callback URL to
register in the official-account admin console (基本配置 → 服务器配置)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.iam.management.commands.createorg import domain_error_text
from siyu.iam.selectors import organization_by_slug_or_id
from siyu.kernel.actor import Actor
from siyu.kernel.errors import DomainError

from ... import accounts


class Command(BaseCommand):
    help = "WeChat official account: connect an account (add-account)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add-account", help="connect an official account and print its callback URL")
        add.add_argument("--org", required=True, help="organisation id or slug")
        add.add_argument("--app-id", required=True, help="the AppID (wx…)")
        add.add_argument("--token", required=True, help="the server Token (3-32 letters and digits)")
        add.add_argument("--aes-key", required=True, help="the EncodingAESKey (43 characters)")
        add.add_argument("--secret", required=True, help="the AppSecret")
        add.add_argument("--api-base", default="", help="API base URL (the simulator); default the platform's")
        add.add_argument("--name", default="", help="a display name for the account")
        add.add_argument("--template-id", default="", help="the template the channel port sends messages with")
        add.add_argument("--public-url", default="", help="this installation's public URL (SIYU_PUBLIC_URL)")

    def handle(self, *args, **opts):
        org = organization_by_slug_or_id(opts["org"])
        if org is None:
            raise CommandError(f"no organisation {opts['org']!r}")
        actor = Actor.system(org.pk, label="siyu oa")
        data = {"appid": opts["app_id"], "callback_token": opts["token"], "encoding_aes_key": opts["aes_key"],
                "secret": opts["secret"], "api_base": opts["api_base"], "name": opts["name"],
                "template_id": opts["template_id"]}  # fmt: skip
        try:
            with transaction.atomic():
                account = accounts.add_account(actor=actor, data=data)
        except DomainError as exc:
            raise CommandError(domain_error_text(exc)) from exc
        self.stdout.write(f"account={account.appid} id={account.pk}")
        self.stdout.write(f"callback_url={accounts.callback_url(account, opts['public_url'] or None)}")
