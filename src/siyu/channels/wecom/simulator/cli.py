"""``siyu wecom-sim``: run the simulator and play client-side actions from the shell.

Actions act on the state file directly (``$SIYU_VAR_DIR/wecom-sim.sqlite3``, or ``--state-file``); the callbacks they
queue are delivered by the running ``serve`` process (its dispatcher polls the file), or when it next starts.
Every action prints its result as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from siyu.channels.errors import CallbackCryptoError
from siyu.channels.wecom.simulator import actions, delivery, pages, seed, state
from siyu.channels.wecom.simulator.actions import Sim
from siyu.channels.wecom.simulator.config import SimConfig
from siyu.channels.wecom.simulator.errors import ActionError
from siyu.channels.wecom.simulator.store import Store


def say(text: str, *, stream: Any = None) -> None:
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()


def _print(data: Any) -> None:
    say(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _serve(args: argparse.Namespace, store: Store) -> int:
    from siyu.channels.wecom.simulator.server import SimServer

    config = SimConfig(token_ttl=args.token_ttl, callback_timeout=args.callback_timeout,
                       retry_delays=tuple(args.retry_delays), corp_per_minute=args.corp_per_minute)  # fmt: skip
    host = args.host or args.root_host or "127.0.0.1"
    port = args.port or args.root_port or 8300
    server = SimServer(store=store, config=config, host=host, port=port)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    say(f"WeCom simulator on {server.url}/  (API base {server.api_base}, state {store.path})")
    server.run()
    return 0


def _seed_demo(args: argparse.Namespace, sim: Sim) -> int:
    data = seed.seed_demo(sim, callback_url=args.callback_url, oa_callback_url=args.oa_callback_url,
                          corp_id=args.corp_id)  # fmt: skip
    if args.json:
        _print(data)
        return 0
    corp, oa = data["corp"], data["official_account"]
    api_base = args.api_base
    say(f"""WeCom corp        {corp["name"]}
  corp id         {corp["corp_id"]}
  callback Token  {corp["token"]}
  EncodingAESKey  {corp["aes_key"]}
  contact secret  {corp["contact_secret"]}
  app AgentId     {corp["agent_id"]}
  app secret      {corp["agent_secret"]}
  archive secret  {corp["msgaudit_secret"]}
  callback URL    {corp["callback_url"] or "(not set)"}
  employees       {", ".join(data["employees"])}
Official account  {oa["name"]}
  AppID           {oa["appid"]}
  AppSecret       {oa["secret"]}
  Token           {oa["token"]}
  EncodingAESKey  {oa["aes_key"]}
  original id     {oa["original_id"]}
  callback URL    {oa["callback_url"] or "(not set)"}

Connect Siyu:
  siyu wecom add-corp --org ORG --corp-id {corp["corp_id"]} --token {corp["token"]} \\
      --aes-key {corp["aes_key"]} --secret {corp["contact_secret"]} \\
      --agent-id {corp["agent_id"]} --agent-secret {corp["agent_secret"]} --api-base {api_base}
then register the callback URL it prints:
  siyu wecom-sim set-callback --corp-id {corp["corp_id"]} --url CALLBACK_URL --verify""")
    return 0


def _add_corp(args: argparse.Namespace, sim: Sim) -> int:
    creds = state.create_corp(sim.store, name=args.name, corp_id=args.corp_id, token=args.token, aes_key=args.aes_key,
                              contact_secret=args.secret, agent_id=args.agent_id, agent_secret=args.agent_secret,
                              callback_url=args.callback_url)  # fmt: skip
    _print(creds.__dict__)
    return 0


def _set_callback(args: argparse.Namespace, sim: Sim) -> int:
    result: dict[str, Any]
    if args.appid:
        state.set_oa_callback_url(sim.store, args.appid, args.url)
        result = {"appid": args.appid, "callback_url": args.url}
    else:
        corp_id = state.only_corp(sim.store, args.corp_id)
        state.set_callback_url(sim.store, corp_id, args.url)
        result = {"corp_id": corp_id, "callback_url": args.url}
    ok = True
    if args.verify:
        if args.appid:
            oa = sim.store.one("SELECT * FROM oa_accounts WHERE appid = ?", args.appid)
            ok, detail = delivery.verify_oa_callback_url(oa, now=sim.now())
        else:
            ok, detail = delivery.verify_callback_url(state.corp_row(sim.store.conn(), corp_id), now=sim.now())
        result.update(verified=ok, detail=detail)
    _print(result)
    return 0 if ok else 1


def _status(args: argparse.Namespace, sim: Sim) -> int:
    data = pages.status(sim)
    if args.json:
        _print(data)
        return 0
    say(f"time {data['time']}")
    for corp in data["corps"]:
        say(f"corp {corp['corp_id']} {corp['name']}  callback {corp['callback_url'] or '(not set)'}")
    for oa in data["official_accounts"]:
        say(f"official account {oa['appid']} {oa['name']}  callback {oa['callback_url'] or '(not set)'}")
    say(
        f"employees {data['employees']}  external contacts {data['external_contacts']}  follows {data['follows']}  "
        f"contact ways {data['contact_ways']}  groups {data['group_chats']}  OA followers {data['oa_followers']}"
    )
    say("deliveries " + (", ".join(f"{k} {v}" for k, v in sorted(data["deliveries"].items())) or "none"))
    for d in data["recent_deliveries"]:
        say(f"  #{d['id']:<5} {d['status']:<9} tries {d['attempts']}  {d['summary']}  {d['log']}")
    return 0


def _corp(args: argparse.Namespace, sim: Sim) -> str:
    return state.only_corp(sim.store, getattr(args, "corp_id", None))


Runner = Callable[[argparse.Namespace, Sim], Any]

# Each action: (help, arguments, runner). Arguments are (flags, options) for argparse.
ACTIONS: dict[str, tuple[str, list[tuple[tuple[str, ...], dict[str, Any]]], Runner]] = {
    "scan": ("a WeChat user scans a contact way and adds the member", [
        (("--state",), {"default": ""}), (("--config-id",), {"default": ""}), (("--name",), {"required": True}),
        (("--unionid",), {}), (("--userid",), {"help": "which member of a multi-member code"})],
        lambda a, s: actions.scan(s, state=a.state, config_id=a.config_id, name=a.name, unionid=a.unionid,
                                  userid=a.userid, corp_id=a.corp_id)),
    "delete": ("the customer deletes the member (del_follow_user) or the member the customer", [
        (("--external-userid",), {"required": True}), (("--userid",), {}),
        (("--by",), {"choices": ("customer", "employee"), "default": "customer"})],
        lambda a, s: actions.delete(s, corp_id=_corp(a, s), external_userid=a.external_userid, userid=a.userid, by=a.by)),
    "message": ("a 1:1 chat message (archived when the customer agreed)", [
        (("--external-userid",), {"required": True}), (("--text",), {"required": True}), (("--userid",), {}),
        (("--from",), {"dest": "sender", "choices": ("customer", "employee"), "default": "customer"})],
        lambda a, s: actions.message(s, corp_id=_corp(a, s), external_userid=a.external_userid, text=a.text,
                                     userid=a.userid, sender=a.sender)),
    "agree": ("the customer agrees (or --disagree) to conversation archiving", [
        (("--external-userid",), {"required": True}), (("--userid",), {}), (("--disagree",), {"action": "store_true"})],
        lambda a, s: actions.agree(s, corp_id=_corp(a, s), external_userid=a.external_userid, userid=a.userid,
                                   agreed=not a.disagree)),
    "join-group": ("a customer joins a customer group (by QR unless --invited)", [
        (("--chat",), {"required": True, "help": "chat_id or group name"}), (("--external-userid",), {}),
        (("--unionid",), {}), (("--name",), {}), (("--invited",), {"action": "store_true"})],
        lambda a, s: actions.join_group(s, corp_id=_corp(a, s), chat_id=a.chat, external_userid=a.external_userid,
                                        unionid=a.unionid, name=a.name, scene="invite" if a.invited else "qr")),
    "leave-group": ("a customer leaves a group", [
        (("--chat",), {"required": True}), (("--external-userid",), {"required": True})],
        lambda a, s: actions.leave_group(s, corp_id=_corp(a, s), chat_id=a.chat, external_userid=a.external_userid)),
    "create-group": ("a member creates a customer group", [
        (("--owner",), {"required": True}), (("--name",), {"required": True})],
        lambda a, s: actions.create_group(s, corp_id=_corp(a, s), owner=a.owner, name=a.name)),
    "scan-group-code": ("a customer scans a group live code (join way: config_id or state)", [
        (("--code",), {"required": True}), (("--external-userid",), {}), (("--unionid",), {}), (("--name",), {})],
        lambda a, s: actions.scan_group_code(s, corp_id=_corp(a, s), code=a.code, external_userid=a.external_userid,
                                             unionid=a.unionid, name=a.name)),
    "change-group": ("the owner renames a group, hands it over (--owner) or dismisses it", [
        (("--chat",), {"required": True}), (("--name",), {}), (("--owner",), {}),
        (("--dismiss",), {"action": "store_true"})],
        lambda a, s: actions.change_group(s, corp_id=_corp(a, s), chat_id=a.chat, name=a.name, owner=a.owner,
                                          dismiss=a.dismiss)),
    "tag": ("the member edits the customer's corp tags in the client (names or ids)", [
        (("--external-userid",), {"required": True}), (("--userid",), {}), (("--add",), {"nargs": "*", "default": []}),
        (("--remove",), {"nargs": "*", "default": []})],
        lambda a, s: actions.tag(s, corp_id=_corp(a, s), external_userid=a.external_userid, userid=a.userid,
                                 add=a.add, remove=a.remove)),
    "admin-tag": ("an administrator creates a corp tag in the admin console", [
        (("--group",), {"required": True}), (("--tag",), {"required": True})],
        lambda a, s: actions.admin_tag(s, corp_id=_corp(a, s), group_name=a.group, tag_name=a.tag)),
    "resign": ("a member leaves the corp", [(("--userid",), {"required": True})],
               lambda a, s: actions.resign(s, corp_id=_corp(a, s), userid=a.userid)),
    "refuse-transfer": ("the customer refuses a waiting transfer", [(("--external-userid",), {"required": True})],
                        lambda a, s: actions.refuse_transfer(s, corp_id=_corp(a, s), external_userid=a.external_userid)),
    "follow-oa": ("a WeChat user follows the official account (by search, or a QR scene)", [
        (("--appid",), {}), (("--unionid",), {}), (("--name",), {}), (("--scene",), {}), (("--ticket",), {})],
        lambda a, s: actions.follow_oa(s, appid=a.appid, unionid=a.unionid, name=a.name, scene=a.scene, ticket=a.ticket)),
    "unfollow-oa": ("a follower unfollows the official account", [(("--appid",), {}), (("--openid",), {"required": True})],
                    lambda a, s: actions.unfollow_oa(s, appid=a.appid, openid=a.openid)),
    "add-employee": ("add a member to a corp", [
        (("--userid",), {"required": True}), (("--name",), {"required": True}),
        (("--department",), {"type": int, "nargs": "*", "default": [1]}), (("--no-contact",), {"action": "store_true"})],
        lambda a, s: state.add_employee(s.store, _corp(a, s), userid=a.userid, name=a.name, department=a.department,
                                        contact_enabled=not a.no_contact) or {"userid": a.userid}),
    "advance-clock": ("move the simulator's clock forward (token expiry, welcome window, 24 h takeover)", [
        (("--seconds",), {"type": float, "required": True})],
        lambda a, s: {"clock_offset": s.store.advance_clock(a.seconds), "ticked": actions.tick(s)}),
    "fault": ("answer the next calls of an API with an errcode (-1, 45009, 41096 …)", [
        (("--api",), {"required": True}), (("--errcode",), {"type": int, "required": True}),
        (("--times",), {"type": int, "default": 1})],
        lambda a, s: state.add_fault(s.store, api=a.api, errcode=a.errcode, times=a.times) or {"fault": a.api}),
    "populate": ("bulk customers for the full-sync measurement (no callbacks)", [
        (("--customers",), {"type": int, "required": True})],
        lambda a, s: {"added": seed.populate(s, corp_id=_corp(a, s), customers=a.customers)}),
}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="siyu wecom-sim", description="A local WeCom + official-account simulator."
    )
    root.add_argument(
        "--state-file", default=None, help="state file (default $SIYU_VAR_DIR/wecom-sim.sqlite3)"
    )
    # `siyu wecom-sim --host H --port P serve` works as well as `serve --host H --port P`
    root.add_argument("--host", dest="root_host", default=None, help=argparse.SUPPRESS)
    root.add_argument("--port", dest="root_port", type=int, default=None, help=argparse.SUPPRESS)
    sub = root.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the simulator's server")
    serve.add_argument("--host", default=None, help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default 8300")
    serve.add_argument("--token-ttl", type=int, default=7200, help="access-token lifetime in seconds")
    serve.add_argument(
        "--corp-per-minute", type=int, default=10_000, help="calls per corp and API a minute (45009)"
    )
    serve.add_argument("--callback-timeout", type=float, default=5.0)
    serve.add_argument("--retry-delays", type=float, nargs=3, default=[2.0, 5.0, 10.0])
    demo = sub.add_parser("seed-demo", help="create the demo corp and official account, print how to connect")
    demo.add_argument("--callback-url", default="")
    demo.add_argument("--oa-callback-url", default="")
    demo.add_argument("--corp-id", default=None)
    demo.add_argument("--api-base", default="http://127.0.0.1:8300/cgi-bin/")
    demo.add_argument("--json", action="store_true")
    add = sub.add_parser("add-corp", help="create a corp (missing secrets and keys are generated)")
    add.add_argument("--name", required=True)
    for flag in ("--corp-id", "--token", "--aes-key", "--secret", "--agent-secret"):
        add.add_argument(flag, default=None)
    add.add_argument("--agent-id", type=int, default=1000002)
    add.add_argument("--callback-url", default="")
    callback = sub.add_parser(
        "set-callback", help="set (and --verify) a corp's or official account's callback URL"
    )
    callback.add_argument("--corp-id", default=None)
    callback.add_argument("--appid", default=None)
    callback.add_argument("--url", required=True)
    callback.add_argument(
        "--verify", action="store_true", help="GET the URL with an encrypted echostr, like WeCom"
    )
    status = sub.add_parser("status", help="counts and the delivery log")
    status.add_argument("--json", action="store_true")
    for name, (help_text, arguments, _) in ACTIONS.items():
        action = sub.add_parser(name, help=help_text)
        action.add_argument("--corp-id", default=None)
        for flags, options in arguments:
            action.add_argument(*flags, **options)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    store = Store(args.state_file)
    sim = Sim(store)
    try:
        if args.command == "serve":
            return _serve(args, store)
        commands: dict[str, Callable[[argparse.Namespace, Sim], int]] = {
            "seed-demo": _seed_demo,
            "add-corp": _add_corp,
            "set-callback": _set_callback,
            "status": _status,
        }
        if args.command in commands:
            return commands[args.command](args, sim)
        _print(ACTIONS[args.command][2](args, sim))
        return 0
    except (ActionError, CallbackCryptoError) as exc:
        say(f"wecom-sim: {exc}", stream=sys.stderr)
        return 2
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
