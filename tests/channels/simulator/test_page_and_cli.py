"""The simulator's web page and its command line, including ``siyu wecom-sim serve`` as a real process."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from siyu.channels.wecom.simulator import actions, state
from siyu.channels.wecom.simulator.cli import main
from siyu.channels.wxcrypto import WXBizMsgCrypt


def test_page_lists_state_and_plays_actions(sim, corp, receiver, client, http, crypt):
    client.add_contact_way(type=2, scene=2, state="page-code", user=["zhangsan", "lisi"])
    page = http.get(sim.url + "/")
    assert page.status_code == 200
    assert "测试企业" in page.text and "page-code" in page.text and "Scan and add lisi" in page.text
    config_id = sim.store.one("SELECT config_id FROM contact_ways")["config_id"]
    answer = http.post(sim.url + "/sim/action/scan", data={"config_id": config_id, "corp_id": corp.corp_id,
                                                            "name": "页面<b>客户</b>", "userid": "lisi"})  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"].startswith("/?msg=scan")
    follow = sim.store.one("SELECT * FROM follows")
    assert (follow["userid"], follow["state"]) == ("lisi", "page-code")
    event = receiver.decrypt(receiver.wait_for(1)[0], crypt)
    assert (event["UserID"], event["State"]) == ("lisi", "page-code")
    page = http.get(sim.url + "/")
    assert "页面&lt;b&gt;客户&lt;/b&gt;" in page.text and "<b>客户</b>" not in page.text  # escaped
    refused = http.post(sim.url + "/sim/action/scan", data={"config_id": "nope", "name": "x"})
    assert "refused" in refused.headers["location"]
    assert sim.store.one("SELECT COUNT(*) FROM follows")[0] == 1
    status = http.get(sim.url + "/sim/status.json").json()
    assert status["follows"] == 1 and status["corps"][0]["corp_id"] == corp.corp_id
    assert http.get(sim.url + "/static/wecom_sim/sim.css").status_code == 200
    assert http.get(sim.url + "/static/../store.py").status_code == 404


def test_cli_actions_on_the_state_file(tmp_path, capsys):
    path = str(tmp_path / "cli.sqlite3")

    def run(*argv):
        code = main(["--state-file", path, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = run("seed-demo", "--json")
    demo = json.loads(out)
    assert code == 0 and demo["corp"]["name"] == "示例科技 WeCom"
    assert run("seed-demo", "--json")[1] == out  # idempotent: the same corp and secrets
    from siyu.channels.wecom.simulator.store import Store

    store = Store(path)
    with store.tx() as db:
        db.execute("INSERT INTO contact_ways (corp_id, config_id, state, body, created_at) VALUES (?, 'c1', 'cli-code', "
                   "'{\"type\":1,\"scene\":2,\"user\":[\"zhangwei\"]}', 0)", (demo["corp"]["corp_id"],))  # fmt: skip
    code, out, _ = run("scan", "--state", "cli-code", "--name", "张三", "--unionid", "oCli1")
    scanned = json.loads(out)
    assert (code, scanned["userid"], scanned["event"]) == (0, "zhangwei", "add_external_contact")
    ext = scanned["external_userid"]
    assert run("message", "--external-userid", ext, "--text", "你好")[0] == 0
    assert run("join-group", "--chat", "示例科技客户交流群", "--external-userid", ext)[0] == 0
    assert run("follow-oa", "--unionid", "oCli1")[0] == 0
    assert run("delete", "--external-userid", ext)[0] == 0
    code, _, err = run("delete", "--external-userid", ext)
    assert code == 2 and "already deleted" in err
    code, out, _ = run("status", "--json")
    data = json.loads(out)
    # no callback URL yet: recorded, not sent; the message made none (the customer has not agreed to archiving)
    assert data["deliveries"] == {"no_url": 4}
    assert [d["summary"].split()[0] for d in data["recent_deliveries"]] == [
        "del_follow_user", "oa", "change_external_chat", "add_external_contact"]  # fmt: skip
    store.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_as_a_process_delivers_what_the_cli_queues(tmp_path, receiver, make_client, http):
    path = str(tmp_path / "proc.sqlite3")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "siyu.cli", "wecom-sim", "--state-file", path]
    seeded = subprocess.run([*cmd, "seed-demo", "--json", "--callback-url", receiver.url], capture_output=True,
                            text=True, timeout=30, env=env, check=True)  # fmt: skip
    corp = json.loads(seeded.stdout)["corp"]
    port = free_port()
    server = subprocess.Popen([*cmd, "--port", str(port), "serve"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if http.get(base + "/sim/status.json", timeout=1).status_code == 200:
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        from siyu.channels.tokens import InMemoryTokenStore
        from siyu.channels.wecom.client import WeComClient

        client = WeComClient(corp_id=corp["corp_id"], secret=corp["contact_secret"], api_base=base + "/cgi-bin/",
                             token_store=InMemoryTokenStore(), http=http)  # fmt: skip
        made = client.add_contact_way(type=1, scene=2, state="proc-code", user=["zhangwei"])
        assert made["qr_code"] == f"{base}/sim/contact-way/{made['config_id']}"
        scanned = subprocess.run([*cmd, "scan", "--state", "proc-code", "--name", "进程"], capture_output=True,
                                 text=True, timeout=30, env=env, check=True)  # fmt: skip
        ext = json.loads(scanned.stdout)["external_userid"]
        [request] = receiver.wait_for(1, timeout=10)
        crypt = WXBizMsgCrypt(
            token=corp["token"], encoding_aes_key=corp["aes_key"], receive_id=corp["corp_id"]
        )
        event = receiver.decrypt(request, crypt)
        assert (event["ExternalUserID"], event["State"]) == (ext, "proc-code")
        deadline = time.monotonic() + 10  # the status is written just after the receiver answered
        while time.monotonic() < deadline and http.get(base + "/sim/status.json").json()["deliveries"] != {
            "delivered": 1
        }:
            time.sleep(0.05)
        status = subprocess.run(
            [*cmd, "status"], capture_output=True, text=True, timeout=30, env=env, check=True
        )
        assert "delivered 1" in status.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=15)
    assert server.returncode == 0
    assert f"WeCom simulator on http://127.0.0.1:{port}/" in output


def test_add_corp_and_set_callback(tmp_path, capsys, receiver):
    path = str(tmp_path / "corp.sqlite3")
    assert main(["--state-file", path, "add-corp", "--name", "新企业", "--corp-id", "wwnew"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["corp_id"] == "wwnew" and len(made["aes_key"]) == 43
    # the receiver answers 200 with an empty body, not the echostr: verification fails like WeCom's 40057
    assert main(["--state-file", path, "set-callback", "--url", receiver.url, "--verify"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["verified"] is False and "40057" in result["detail"]
    assert main(["--state-file", path, "add-corp", "--name", "重复", "--corp-id", "wwnew"]) == 2


def test_advance_clock_and_fault_commands(tmp_path, capsys):
    path = str(tmp_path / "clock.sqlite3")
    assert main(["--state-file", path, "advance-clock", "--seconds", "86400"]) == 0
    assert json.loads(capsys.readouterr().out)["clock_offset"] == 86400.0
    assert main(["--state-file", path, "fault", "--api", "/cgi-bin/externalcontact/send_welcome_msg",
                 "--errcode", "41096", "--times", "2"]) == 0  # fmt: skip
    from siyu.channels.wecom.simulator.store import Store

    store = Store(path)
    row = store.one("SELECT * FROM faults")
    assert (row["api"], row["errcode"], row["remaining"]) == ("externalcontact/send_welcome_msg", 41096, 2)
    store.close()


def test_resign_and_unassigned_from_page_forms(sim, corp, http):
    state.add_employee(sim.store, corp.corp_id, userid="leaver", name="离职")
    answer = http.post(sim.url + "/sim/action/resign", data={"corp_id": corp.corp_id, "userid": "leaver"})
    assert answer.status_code == 303
    assert sim.store.one("SELECT status FROM employees WHERE userid = 'leaver'")["status"] == 5
    with pytest.raises(actions.ActionError):
        actions.resign(sim.sim, corp_id=corp.corp_id, userid="leaver")


def test_the_simulator_does_not_load_django():
    code = ("import sys, siyu.channels.wecom.simulator.server, siyu.channels.wecom.simulator.cli; "
            "print(sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'siyu.kernel.models'))))")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    assert out.stdout.strip() == "[]"
