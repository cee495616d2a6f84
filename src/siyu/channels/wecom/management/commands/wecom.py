"""``siyu wecom add-corp --org ORG --corp-id ID --token TOKEN --aes-key KEY --secret SECRET [--agent-id N
--agent-secret S] [--api-base URL] [--name NAME] [--public-url URL]``: connect a WeCom corp and print the callback
URL to register in WeCom's admin console. ``siyu wecom sync --org ORG --corp-id ID --kind employees|contacts|
reconcile|tags`` runs a sync now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.iam.management.commands.createorg import domain_error_text
from siyu.iam.selectors import organization_by_slug_or_id
from siyu.kernel.actor import Actor
from siyu.kernel.errors import DomainError

from ... import corps, sync
from ...models import SyncRun


class Command(BaseCommand):
    help = "WeCom channel: connect a corp (add-corp) or run a sync (sync)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add-corp", help="connect a WeCom corp and print its callback URL")
        add.add_argument("--org", required=True, help="organisation id or slug")
        add.add_argument("--corp-id", required=True)
        add.add_argument("--token", required=True, help="the callback Token")
        add.add_argument("--aes-key", required=True, help="the callback EncodingAESKey (43 characters)")
        add.add_argument("--secret", required=True, help="the customer-contact secret")
        add.add_argument("--agent-id", type=int, default=None, help="the self-built app's AgentId")
        add.add_argument("--agent-secret", default="", help="the self-built app's secret")
        add.add_argument("--api-base", default="", help="API base URL (the simulator); default WeCom's")
        add.add_argument("--name", default="", help="a display name for the corp")
        add.add_argument("--public-url", default="", help="this installation's public URL (SIYU_PUBLIC_URL)")
        run = sub.add_parser("sync", help="run a sync now")
        run.add_argument("--org", required=True)
        run.add_argument("--corp-id", required=True)
        run.add_argument("--kind", required=True, choices=SyncRun.Kind.values)

    def _org(self, value: str):
        org = organization_by_slug_or_id(value)
        if org is None:
            raise CommandError(f"no organisation {value!r}")
        return org

    def handle(self, *args, **opts):
        org = self._org(opts["org"])
        actor = Actor.system(org.pk, label="siyu wecom")
        if opts["action"] == "add-corp":
            data = {"corp_id": opts["corp_id"], "callback_token": opts["token"],
                    "encoding_aes_key": opts["aes_key"], "secret": opts["secret"], "name": opts["name"],
                    "agent_id": opts["agent_id"], "agent_secret": opts["agent_secret"],
                    "api_base": opts["api_base"]}
            try:
                with transaction.atomic():
                    corp = corps.add_corp(actor=actor, data=data)
            except DomainError as exc:
                raise CommandError(domain_error_text(exc)) from exc
            self.stdout.write(f"corp={corp.corp_id} id={corp.pk}")
            self.stdout.write(f"callback_url={corps.callback_url(corp, opts['public_url'] or None)}")
            return
        corp = corps.default_corp(org.pk, opts["corp_id"])
        with transaction.atomic():
            run = SyncRun.objects.create(org_id=org.pk, corp=corp, kind=opts["kind"])
        run = sync.run(run.pk, org_id=org.pk)
        self.stdout.write(f"sync={run.kind} status={run.status} total={run.total} added={run.added} "
                          f"updated={run.updated} deleted={run.deleted}")
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(run.error)
