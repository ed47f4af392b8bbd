"""`ballot election …` against a real ledger (real HTTP, a fresh PostgreSQL database)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from ballot.cli import main
from ledger.runtime.embedded import free_port

from ..conftest import ADMIN, AUTH_FRONTEND, ROLL_CSV, AppClient, definition, paper

DEF = definition()


def url(client: AppClient) -> str:
    return str(client.make_url("")).rstrip("/")


async def ballot(
    client: AppClient, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    """Run `ballot ARGV --url <the test ledger>` in a thread (the server runs on this loop)."""
    code = await asyncio.to_thread(main, [*argv, "--url", url(client)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def admin_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The admin token in the environment; the ledger's own logs kept out of stdout."""
    monkeypatch.setenv("BALLOT_ADMIN_TOKEN", ADMIN)
    for name in ("BALLOT_URL", "BALLOT_COUNTER_URL"):
        monkeypatch.delenv(name, raising=False)
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "nec-2026.json").write_text(json.dumps(DEF, indent=2))
    (tmp_path / "roll.csv").write_text(ROLL_CSV)
    rows = [
        f"{c['id']},{k['id']},{body}"
        for c in DEF["contests"]
        for k in c["candidates"]
        for body in ("branch-a", "branch-b")
    ]
    (tmp_path / "nominations.csv").write_text("contest,candidate,body\n" + "\n".join(rows) + "\n")
    return tmp_path


async def setup(client: AppClient, capsys: pytest.CaptureFixture[str], files: Path) -> None:
    """Create, roll, nominate (all), close nominations: the ledger is ready to open the poll."""
    await setup_until_nominations(client, capsys, files)
    for argv in (
        ("nominations", "nec-2026", str(files / "nominations.csv")),
        ("close-nominations", "nec-2026"),
    ):
        code, out, err = await ballot(client, capsys, "election", *argv)
        assert code == 0, out + err


async def test_create_defines_then_redefines(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """create: the election is defined (id from the file's name) and says what it holds;
    the same again during setup is a redefinition."""
    code, out, _ = await ballot(client, capsys, "election", "create", str(files / "nec-2026.json"))
    assert code == 0
    assert re.match(r"election nec-2026 created \(log entry 0, receipt [A-Z2-7-]{19}\)", out)
    assert "members: Members' section, 3 seat(s), STV (scottish), 5 candidate(s)" in out
    r = await client.get("/v1/elections/nec-2026")
    assert (await r.json())["definition"]["title"] == DEF["title"]
    code, out, _ = await ballot(client, capsys, "election", "create", str(files / "nec-2026.json"))
    assert code == 0 and "election nec-2026 redefined (log entry 1" in out


async def test_create_from_yaml_with_an_id(
    client: AppClient, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """create takes YAML, and --id names the election."""
    text = "title: Small\ncontests:\n  - id: c\n    title: C\n    seats: 1\n"
    text += "    method: {type: bloc}\n    candidates: [{id: a, name: A}]\n"
    (tmp_path / "def.yml").write_text(text)
    code, out, _ = await ballot(
        client, capsys, "election", "create", str(tmp_path / "def.yml"), "--id", "small-1"
    )
    assert code == 0 and "election small-1 created" in out
    assert (await client.get("/v1/elections/small-1")).status == 200


async def test_a_refused_definition_sends_nothing(
    client: AppClient, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A definition with a mistake: the line and field, exit 2, and no election on the ledger."""
    doc = definition()
    doc["contests"][1]["seats"] = 0
    (tmp_path / "bad.json").write_text(json.dumps(doc, indent=2))
    code, out, err = await ballot(client, capsys, "election", "create", str(tmp_path / "bad.json"))
    line = json.dumps(doc, indent=2).splitlines().index('      "seats": 0,') + 1
    assert code == 2 and out == ""
    assert err == f"ballot election: bad.json line {line}: contests[1].seats: must be at least 1\n"
    assert (await client.get("/v1/elections/bad")).status == 404


async def test_roll_publishes_and_reports_counts(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """roll: the roll is published; the command shows voters and eligible per contest."""
    await ballot(client, capsys, "election", "create", str(files / "nec-2026.json"))
    code, out, _ = await ballot(
        client, capsys, "election", "roll", "nec-2026", str(files / "roll.csv")
    )
    assert code == 0
    assert "roll of nec-2026 published (log entry 1" in out and "60 voter(s)" in out
    assert "  members: 60 eligible\n" in out and "  youth: 14 eligible\n" in out


async def test_roll_refusal_names_line_and_column(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path, tmp_path: Path
) -> None:
    """A roll the ledger refuses: the file's line and column in the message, exit 2."""
    await ballot(client, capsys, "election", "create", str(files / "nec-2026.json"))
    (tmp_path / "bad.csv").write_text("voter_id,region,age\nv1,north,30\nv2,south,--5\n")
    code, out, err = await ballot(
        client, capsys, "election", "roll", "nec-2026", str(tmp_path / "bad.csv")
    )
    assert code == 2 and out == ""
    assert err.startswith(
        "ballot election: bad.csv line 3, column 3 (age): a cell is not an integer"
    )


async def test_nominations_report_every_row(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path, tmp_path: Path
) -> None:
    """nominations: each row recorded or refused, with its line; a second run reports the
    recorded ones as already recorded; a refused row makes the exit 1."""
    await ballot(client, capsys, "election", "create", str(files / "nec-2026.json"))
    await ballot(client, capsys, "election", "roll", "nec-2026", str(files / "roll.csv"))
    returns = tmp_path / "returns.csv"
    returns.write_text(
        "contest,candidate,body\nmembers,ann,north\nmembers,zed,north\nyouth,yan,south\n"
    )
    code, out, err = await ballot(
        client, capsys, "election", "nominations", "nec-2026", str(returns)
    )
    assert code == 2 and "line 2: " in err and "409 wrong-phase" in err and "stopped" in err
    await ballot(client, capsys, "election", "open-nominations", "nec-2026")
    code, out, _ = await ballot(client, capsys, "election", "nominations", "nec-2026", str(returns))
    assert code == 1
    assert re.search(
        r"^line 2: recorded: north nominates ann in members \(log entry \d+", out, re.M
    )
    assert "line 3: REFUSED: north nominates zed in members: " in out and "candidate=zed" in out
    assert re.search(r"^line 4: recorded: south nominates yan in youth", out, re.M)
    assert out.endswith("2 recorded, 0 already recorded, 1 refused\n")
    code, out, _ = await ballot(client, capsys, "election", "nominations", "nec-2026", str(returns))
    assert "line 2: already recorded: north nominates ann in members" in out
    assert out.endswith("0 recorded, 2 already recorded, 1 refused\n")
    r = await client.get("/v1/elections/nec-2026")
    assert (await r.json())["nominations"]["members"]["ann"] == 1


async def test_a_malformed_nominations_file_sends_nothing(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path, tmp_path: Path
) -> None:
    """A returns file with a bad cell: its line and column, exit 2, no nomination recorded."""
    await setup_until_nominations(client, capsys, files)
    returns = tmp_path / "returns.csv"
    returns.write_text("contest,candidate,body\nmembers,ann,north\nmembers,Bob,north\n")
    code, out, err = await ballot(
        client, capsys, "election", "nominations", "nec-2026", str(returns)
    )
    assert code == 2 and out == ""
    assert 'returns.csv line 3, column 2 (candidate): "Bob" is not an id' in err
    r = await client.get("/v1/elections/nec-2026")
    assert (await r.json())["nominations"]["members"]["ann"] == 0


async def setup_until_nominations(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """Create, roll, open nominations."""
    for argv in (
        ("create", str(files / "nec-2026.json")),
        ("roll", "nec-2026", str(files / "roll.csv")),
        ("open-nominations", "nec-2026"),
    ):
        code, out, err = await ballot(client, capsys, "election", *argv)
        assert code == 0, out + err


async def test_the_phases_withdraw_close_and_status(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """close-nominations shows who stands; open, withdraw and close say what they did; status
    shows phase, turnout and withdrawals, and the wrong phase is a plain refusal."""
    await setup(client, capsys, files)
    code, out, err = await ballot(client, capsys, "election", "close", "nec-2026")
    assert code == 2 and "409 wrong-phase" in err
    code, out, _ = await ballot(client, capsys, "election", "open", "nec-2026")
    assert code == 0 and out.startswith("nec-2026: poll opened (log entry")
    for voter in ("v001", "v002", "v003"):
        r = await client.post(
            "/v1/elections/nec-2026/ballots", json=paper(voter), headers=AUTH_FRONTEND
        )
        assert r.status == 201, await r.text()
    code, out, _ = await ballot(
        client, capsys, "election", "withdraw", "nec-2026", "members", "dan", "--note", "stood down"
    )
    assert code == 0 and out.startswith("nec-2026: dan withdrawn from members (log entry")
    code, out, _ = await ballot(client, capsys, "election", "status", "nec-2026", "--no-counter")
    assert code == 0
    assert "  phase: poll open; the public log has" in out
    assert "  withdrawn from members: dan" in out
    assert (
        "  waiting to be released to the public log: 3 accepted ballot(s) (members 3, youth 0)"
        in out
    )
    assert "    members: 0 of 60 (0.0%) have voted" in out  # no report published yet
    code, out, _ = await ballot(client, capsys, "election", "close", "nec-2026")
    assert code == 0 and "poll closed; 3 sealed ballot(s) opened" in out
    code, out, _ = await ballot(client, capsys, "election", "status", "nec-2026", "--no-counter")
    assert "  phase: poll closed;" in out and "    members: 3 of 60 (5.0%) have voted" in out


async def test_close_nominations_lists_who_stands(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path, tmp_path: Path
) -> None:
    """close-nominations: each contest's candidates, their nominations and whether they stand."""
    await setup_until_nominations(client, capsys, files)
    returns = tmp_path / "returns.csv"
    returns.write_text("contest,candidate,body\nyouth,yan,a\nyouth,yan,b\nyouth,yvo,a\n")
    await ballot(client, capsys, "election", "nominations", "nec-2026", str(returns))
    code, out, _ = await ballot(client, capsys, "election", "close-nominations", "nec-2026")
    assert code == 0
    assert "  youth: 1 standing\n    Yan Young (yan): 2 nomination(s), standing\n" in out
    assert "    Yvonne Yu (yvo): 1 nomination(s), not standing (needs 2)\n" in out


async def test_status_with_an_unreachable_counter_says_so(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """status prints what the ledger says, then that the counter cannot be reached: exit 1."""
    await setup(client, capsys, files)
    counter = f"http://127.0.0.1:{free_port()}"
    code, out, _ = await ballot(
        client, capsys, "election", "status", "nec-2026", "--counter-url", counter
    )
    assert code == 1
    assert "  phase: ready (nominations closed; the poll can open);" in out
    assert f"  counter: cannot reach the counter at {counter}" in out


async def test_declare_before_the_close_is_a_clear_refusal(
    client: AppClient, capsys: pytest.CaptureFixture[str], files: Path
) -> None:
    """declare before there is a result to approve: the ledger's refusal in plain words, exit
    2; an unknown contest is refused before anything is sent. (The approval itself is run by
    the walk-through test, against a real counter.)"""
    await setup(client, capsys, files)
    code, _, err = await ballot(client, capsys, "election", "declare", "nec-2026", "members")
    assert code == 2
    assert "409 wrong-phase: a result cannot be approved in phase" in err
    code, _, err = await ballot(client, capsys, "election", "declare", "nec-2026", "chair")
    assert code == 2 and "nec-2026 has no contest 'chair' (it has members, youth)" in err


async def test_tokens_and_unknown_elections_are_plain_refusals(
    client: AppClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No token, a wrong token, an election that does not exist: each a message and exit 2."""
    code, _, err = await ballot(client, capsys, "election", "open", "nowhere")
    assert code == 2 and err.startswith("ballot election: the ledger refused: 404 not-found:")
    monkeypatch.setenv("BALLOT_ADMIN_TOKEN", "not-the-token-0123456789")
    code, _, err = await ballot(client, capsys, "election", "open", "nowhere")
    assert code == 2
    assert err == (
        "ballot election: the ledger refused: 401 unauthorized: the bearer token is not valid\n"
    )
    monkeypatch.delenv("BALLOT_ADMIN_TOKEN")
    code, _, err = await ballot(client, capsys, "election", "open", "nowhere")
    assert code == 2 and "set BALLOT_ADMIN_TOKEN to an admin token of the ledger" in err


def test_an_unreachable_ledger_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens at --url: 'cannot reach the ledger', exit 2, no traceback."""
    target = f"http://127.0.0.1:{free_port()}"
    assert main(["election", "open", "nec-2026", "--url", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ballot election: cannot reach the ledger at {target} (")
    assert "Traceback" not in err


def test_the_url_comes_from_ballot_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --url, the commands use $BALLOT_URL."""
    target = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("BALLOT_URL", target)
    assert main(["election", "status", "nec-2026", "--no-counter"]) == 2
    assert f"cannot reach the ledger at {target}" in capsys.readouterr().err


def test_nominations_stop_at_a_network_failure_and_say_where(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The ledger cannot be reached: the row where it stopped, and that a re-run is safe."""
    returns = tmp_path / "returns.csv"
    returns.write_text("contest,candidate,body\nmembers,ann,north\n")
    target = f"http://127.0.0.1:{free_port()}"
    assert main(["election", "nominations", "nec-2026", str(returns), "--url", target]) == 2
    captured = capsys.readouterr()
    assert captured.out == "0 recorded, 0 already recorded, 0 refused\n"
    assert captured.err.startswith(
        f"ballot election: line 2: cannot reach the ledger at {target} ("
    )
    assert "not sent. Run the command again: nominations already recorded are reported" in (
        captured.err
    )


def test_a_bad_election_id_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An id that cannot be an election's: argparse's usage error (exit 2), no traceback; a
    file whose name is no id asks for --id."""
    with pytest.raises(SystemExit) as caught:
        main(["election", "open", "Bad Id"])
    assert caught.value.code == 2
    assert "argument id: 'Bad Id' is not an election id" in capsys.readouterr().err
    (tmp_path / "My Election.yaml").write_text("title: x\n")
    assert main(["election", "create", str(tmp_path / "My Election.yaml")]) == 2
    assert "the file's name 'My Election' is not an election id" in capsys.readouterr().err


async def test_a_url_that_is_not_the_ledger_is_named(
    aiohttp_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """--url pointing at a web server that answers 200 with a page: a message asking whether
    it is the ledger's address, exit 2, no traceback."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    server = await aiohttp_server(app)
    target = str(server.make_url("")).rstrip("/")
    argv = ["election", "status", "nec-2026", "--no-counter", "--url", target]
    assert await asyncio.to_thread(main, argv) == 2
    err = capsys.readouterr().err
    assert f"answered 200 with text/html, not JSON: is {target} the ledger's address?" in err
