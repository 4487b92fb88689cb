"""`btcbot report`, `export` and `alerts` over real databases written by the real engine."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from reports_testkit import push_through, reader, run_engine, sim_settings

from btcbot_engine.cli import main
from btcbot_engine.config import Settings
from btcbot_engine.domain.records import Decision, DecisionStage, LedgerEvent, LedgerKind
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.export import csv_paths, header, unescape_cell
from btcbot_engine.store.db import open_database


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def traded(sim: SimulatorHandle, tmp_path: Path) -> Settings:
    """A paper database with three cycles, orders and fills."""
    settings = sim_settings(sim, tmp_path, live=False)
    run_engine(settings, 1)
    push_through(sim, "BTCTRY")
    push_through(sim, "USDTTRY")
    run_engine(settings, 2)
    return settings


def _digest(path: Path) -> tuple[str, int]:
    """The database file's hash and the WAL's size (SQLite may create an empty WAL for a reader)."""
    wal = Path(f"{path}-wal")
    return hashlib.sha256(path.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


def test_report_json_is_one_document_matching_the_database(
    traded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    db = traded.state_db_path
    before = _digest(db)
    code, out, err = _cli(capsys, "report", "--json", "--db", str(db))
    assert (code, err) == (0, "")
    doc = json.loads(out)  # one document, nothing else on stdout
    with reader(db) as store:
        fills = store.fills.all()
        orders = store.orders.list_all()
    assert doc["cycles"]["count"] == 3 and doc["cycles"]["ok"] == 3
    assert doc["fills"]["count"] == len(fills)
    assert sum(doc["orders_by_state"].values()) == len(orders)
    volume = sum((f.quantity for f in fills if f.symbol == "BTCTRY"), Decimal(0))
    assert Decimal(doc["fills"]["by_symbol"]["BTCTRY"]["volume"]) == volume
    assert doc["decisions_by_reason"]["oms:submitted"] == len(orders)
    assert Decimal(doc["pnl"]["fees_try"]) > 0
    for asset in {f.fee_asset for f in fills}:
        fee = sum((f.fee for f in fills if f.fee_asset == asset), Decimal(0))
        tax = sum((f.tax for f in fills if f.fee_asset == asset), Decimal(0))
        assert Decimal(doc["fees_by_asset"][asset]) == fee
        assert Decimal(doc["taxes_by_asset"][asset]) == tax
    assert doc["latency_ms"]["submit"]["count"] == len(orders)
    assert _digest(db) == before, "a report must never write to the database"


def test_report_last_limits_the_window_and_prints_a_table(
    traded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "report", "--last", "1", "--json")  # STATE_DB_PATH from env
    assert code == 0 and json.loads(out)["cycles"]["count"] == 1
    code, out, _ = _cli(capsys, "report")
    assert code == 0
    assert "last 3 cycle(s)" in out and "3 ok, 0 error" in out
    assert "oms:submitted" in out and "submit ms" in out


def test_commands_work_while_a_writer_holds_the_database(
    traded: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(traded.state_db_path)
    holder = (
        "import sys\n"
        "from btcbot_engine.store.db import open_database\n"
        "from btcbot_engine.store.lock import InstanceLock\n"
        f"lock = InstanceLock({db!r}, {traded.account_key!r}, command='test holder')\n"
        "lock.acquire()\n"
        f"store = open_database({db!r}, account_key={traded.account_key!r})\n"
        "with store.atomic():\n"
        "    store.cursors.set('holder', 'uncommitted')\n"
        "    print('ready', flush=True)\n"
        "    sys.stdin.readline()\n"
        "store.close()\n"
        "lock.release()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        code, out, _ = _cli(capsys, "report", "--json", "--db", db)
        assert code == 0 and json.loads(out)["cycles"]["count"] == 3
        code, out, _ = _cli(capsys, "alerts", "--json", "--db", db)
        assert code in (0, 1) and "alerts" in json.loads(out)
        target = tmp_path / "held.jsonl"
        code, _, _ = _cli(capsys, "export", "--db", db, "--out", str(target))
        assert code == 0 and target.read_text().count('"table": "cycles"') == 3
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("command", ["report", "alerts", "export"])
def test_missing_or_corrupt_database_is_one_line_and_exit_2(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--out", str(tmp_path / "x.jsonl")] if command == "export" else []
    missing = tmp_path / "nope.db"
    code, out, err = _cli(capsys, command, "--db", str(missing), *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "nope.db" in err and "does not exist" in err
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database at all" * 100)
    code, out, err = _cli(capsys, command, "--db", str(corrupt), *extra)
    assert code == 2 and out == "" and err.count("\n") == 1 and "corrupt.db" in err
    assert not (tmp_path / "x.jsonl").exists()


def test_export_jsonl_has_every_table_and_refuses_to_overwrite(
    traded: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.jsonl"
    code, stdout, _ = _cli(capsys, "export", "--last", "3", "--out", str(out), "--json")
    assert code == 0
    result = json.loads(stdout)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_table: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_table.setdefault(str(row["table"]), []).append(row)
    assert {t: len(v) for t, v in by_table.items()} == {
        t: n for t, n in result["rows"].items() if n
    }
    assert set(by_table) == {"cycles", "decisions", "orders", "fills", "ledger"}
    fill = by_table["fills"][0]
    assert isinstance(fill["trade_id"], str) and isinstance(fill["price"], str)
    assert str(fill["timestamp_utc"]).endswith("Z")
    with reader(traded.state_db_path) as store:
        stored = store.fills.get(int(str(fill["trade_id"])))
    assert stored is not None and Decimal(str(fill["price"])) == stored.price
    before = out.read_bytes()
    code, stdout, err = _cli(capsys, "export", "--out", str(out))
    assert code == 2 and "exists" in err and "--force" in err and stdout == ""
    assert out.read_bytes() == before
    code, _, _ = _cli(capsys, "export", "--last", "1", "--out", str(out), "--force")
    assert code == 0 and out.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _hostile_rows(settings: Settings) -> None:
    """Formula-looking text and awkward Decimals in the last cycle, as a writer would store."""
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        last = store.cycles.recent(1)[0]
        ts = last.finished_ms or last.started_ms
        store.decisions.insert_many(
            [
                Decision(
                    run_id=last.run_id,
                    cycle_id=last.cycle_id,
                    ts_ms=ts,
                    stage=DecisionStage.RISK,
                    action="=1+1",
                    reason_code='=HYPERLINK("http://x","y")',
                    symbol="@SUM(A1)",
                    detail={"note": "-2+3", "cmd": "+cmd|' /C calc'!A0"},
                )
            ]
        )
        store.ledger.append(
            LedgerEvent(
                ts_ms=ts,
                kind=LedgerKind.ADJUSTMENT,
                asset="TRY",
                quantity=Decimal("1E-8"),
                amount_quote=Decimal("-1234567890.123456789012"),
                ref="'quoted",
                detail="\tTAB",
            )
        )
    finally:
        store.close()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_round_trips_decimals_exactly_and_escapes_formulas(
    traded: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hostile_rows(traded)
    out = tmp_path / "sheet.csv"
    code, out_text, _ = _cli(capsys, "export", "--format", "csv", "--out", str(out))
    assert code == 0 and out_text.startswith("exported ")
    paths = csv_paths(out)
    assert sorted(p.name for p in tmp_path.glob("sheet.*.csv")) == sorted(
        p.name for p in paths.values()
    )
    raw = paths["fills"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # UTF-8 BOM, CRLF
    fills = _read_csv(paths["fills"])
    assert list(fills[0]) == header("fills")
    with reader(traded.state_db_path) as store:
        stored = {f.trade_id: f for f in store.fills.all()}
        ledger = store.ledger.all()
    assert len(fills) == len(stored)
    for row in fills:
        f = stored[int(row["trade_id"])]
        assert (Decimal(row["price"]), Decimal(row["quantity"]), Decimal(row["fee"])) == (
            f.price,
            f.quantity,
            f.fee,
        )
        assert row["price"] == format(f.price, "f")
    ledger_rows = _read_csv(paths["ledger"])
    assert [Decimal(r["quantity"]) for r in ledger_rows] == [e.quantity for e in ledger]
    assert any(r["quantity"].startswith("-") for r in ledger_rows), "negatives stay numbers"
    adjustment = ledger_rows[-1]
    assert adjustment["quantity"] == "0.00000001"  # never 1E-8
    assert adjustment["amount_quote"] == "-1234567890.123456789012"
    assert adjustment["ref"] == "''quoted" and unescape_cell(adjustment["ref"]) == "'quoted"
    assert adjustment["detail"] == "'\tTAB"
    hostile = [r for r in _read_csv(paths["decisions"]) if r["symbol"].startswith("'@")]
    assert len(hostile) == 1
    row = hostile[0]
    assert row["reason_code"] == '\'=HYPERLINK("http://x","y")'
    assert row["action"] == "'=1+1"
    assert unescape_cell(row["reason_code"]) == '=HYPERLINK("http://x","y")'
    assert json.loads(row["detail"]) == {"cmd": "+cmd|' /C calc'!A0", "note": "-2+3"}
    for path in paths.values():
        for r in _read_csv(path):
            for cell in r.values():
                assert not cell.startswith(("=", "+", "@", "\t")), (path.name, cell)
                if cell.startswith("-"):
                    Decimal(cell)  # only plain negative numbers may start with "-"
            assert all(r[c].endswith("Z") for c in r if c.endswith("_utc") and r[c])


def test_no_secret_reaches_reports_exports_or_alerts(
    sim: SimulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = sim_settings(sim, tmp_path, live=True)
    assert settings.secret_values == (sim.api_key, sim.api_secret)
    run_engine(settings, 2)
    texts = []
    for argv in (["report", "--json"], ["report"], ["alerts", "--json"], ["alerts"]):
        _, out, err = _cli(capsys, *argv)
        texts += [out, err]
    _cli(capsys, "export", "--out", str(tmp_path / "e.jsonl"))
    _cli(capsys, "export", "--format", "csv", "--out", str(tmp_path / "e.csv"))
    files = list(tmp_path.glob("e.*"))
    assert len(files) == 6
    texts += [p.read_text(encoding="utf-8-sig") for p in files]
    texts.append(settings.state_db_path.read_bytes().decode("latin-1"))
    for secret in settings.secret_values:
        assert all(secret not in text for text in texts)


def test_alerts_exit_0_when_quiet_and_1_with_a_429(
    sim: SimulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = sim_settings(sim, tmp_path, live=True)
    run_engine(settings, 2)
    code, out, _ = _cli(capsys, "alerts")
    assert code == 0 and "none" in out
    code, out, _ = _cli(capsys, "alerts", "--json")
    assert code == 0 and json.loads(out) == {"status": "OK", "last_cycles": 100, "alerts": []}
    sim.control.set_faults(rate_limit_remaining=6, retry_after_s=0)
    run_engine(settings, 2)
    code, out, _ = _cli(capsys, "alerts", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["status"] == "CRITICAL"
    alert = next(a for a in doc["alerts"] if a["code"] == "rest_429")
    assert alert["severity"] == "CRITICAL" and alert["count"] == 6
    assert alert["first_seen_ms"] <= alert["last_seen_ms"]
    code, out, _ = _cli(capsys, "alerts", "--last", "2")
    assert code == 1 and "rest_429" in out and "CRITICAL" in out


def test_a_corrupt_page_found_while_reading_is_one_line_naming_the_file(
    traded: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sqlite3

    db = traded.state_db_path
    with sqlite3.connect(db) as conn:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='metrics'").fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as handle:  # the header passes; the metrics table's root page does not
        handle.seek((root - 1) * page_size)
        handle.write(b"\x0d\xff\xff\xff" * 8)
    for argv in (["report"], ["alerts"], ["export", "--out", str(tmp_path / "c.jsonl")]):
        code, out, err = _cli(capsys, *argv, "--db", str(db))
        assert (code, out) == (2, ""), argv
        assert err.count("\n") == 1 and str(db) in err and "malformed" in err
    assert not (tmp_path / "c.jsonl").exists()
