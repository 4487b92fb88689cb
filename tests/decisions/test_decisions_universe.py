"""Universe selection: every reason code, explicit lists, and a stable order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from decisions_testkit import rules, ticker

from btcbot_engine import universe as u
from btcbot_engine.universe import UniverseConfig, included_symbols, select_universe

D = Decimal
CFG = UniverseConfig(min_quote_volume=D("1000000"), max_spread_bps=D("50"), max_size=2)


def by_symbol(entries: list[u.UniverseEntry]) -> dict[str, u.UniverseEntry]:
    return {e.symbol: e for e in entries}


def test_every_discovery_reason() -> None:
    rule_list = [
        rules("BTCTRY"),  # selected: 100 * 1e6 = 1e8 TRY volume
        rules("ETHTRY"),  # selected, smaller volume
        rules("AVAXTRY"),  # passes filters but over max_size=2
        rules("DOGETRY"),  # denied
        rules("BTCUSDT", quote="USDT"),  # quote not wanted
        rules("OLDTRY", status="DELISTED"),  # not trading
        rules("NOTKTRY"),  # no ticker
        rules("EMPTYTRY"),  # bid 0
        rules("CROSSTRY"),  # crossed
        rules("THINTRY"),  # low volume
        rules("WIDETRY"),  # wide spread
    ]
    tickers = [
        ticker("BTCTRY", "1000000", "1000100", volume="100"),
        ticker("ETHTRY", "100000", "100010", volume="100"),
        ticker("AVAXTRY", "1000", "1000.1", volume="2000"),
        ticker("DOGETRY", "5", "5.0001", volume="1000000000"),
        ticker("BTCUSDT", "60000", "60001", volume="1000"),
        ticker("OLDTRY", "10", "10.001", volume="10000000"),
        ticker("EMPTYTRY", "0", "10", volume="10000000"),
        ticker("CROSSTRY", "10.01", "10", volume="10000000"),
        ticker("THINTRY", "10", "10.001", volume="10"),
        ticker("WIDETRY", "10", "10.1", volume="10000000"),
        ticker("GHOSTTRY", "10", "10.001", volume="10000000"),  # ticker without rules
    ]
    cfg = UniverseConfig(
        min_quote_volume=D("1000000"), max_spread_bps=D("50"), deny=("doge_try",), max_size=2
    )
    entries = select_universe(cfg, {r.symbol: r for r in rule_list}, {t.symbol: t for t in tickers})
    got = {e.symbol: e.reason for e in entries}
    assert got == {
        "BTCTRY": u.SELECTED,
        "ETHTRY": u.SELECTED,
        "AVAXTRY": u.OVER_MAX_SIZE,
        "DOGETRY": u.DENIED,
        "BTCUSDT": u.QUOTE_NOT_WANTED,
        "OLDTRY": u.NOT_TRADING,
        "NOTKTRY": u.NO_TICKER,
        "EMPTYTRY": u.EMPTY_BOOK,
        "CROSSTRY": u.CROSSED,
        "THINTRY": u.LOW_VOLUME,
        "WIDETRY": u.WIDE_SPREAD,
        "GHOSTTRY": u.UNKNOWN_SYMBOL,
    }
    assert included_symbols(entries) == ("BTCTRY", "ETHTRY")
    # Every entry carries what the operator needs to understand it.
    e = by_symbol(entries)
    assert e["BTCTRY"].quote_volume == D("100000000")
    assert e["WIDETRY"].spread_bps == D("99.50")
    assert e["NOTKTRY"].quote_volume is None and e["NOTKTRY"].spread_bps is None


def test_allow_list_excludes_others() -> None:
    r = {s: rules(s) for s in ("BTCTRY", "ETHTRY")}
    t = {s: ticker(s, volume="1000") for s in r}
    entries = select_universe(UniverseConfig(allow=("BTC_TRY",), max_size=5), r, t)
    assert {e.symbol: e.reason for e in entries} == {
        "BTCTRY": u.SELECTED,
        "ETHTRY": u.NOT_ALLOWED,
    }


def test_usdt_quote_can_be_wanted() -> None:
    r = {"BTCUSDT": rules("BTCUSDT", quote="USDT")}
    t = {"BTCUSDT": ticker("BTCUSDT", "60000", "60001", volume="1000")}
    entries = select_universe(UniverseConfig(quotes=("TRY", "usdt")), r, t)
    assert [e.reason for e in entries] == [u.SELECTED]


def test_explicit_list_is_exact_and_still_checked() -> None:
    r = {
        "BTCTRY": rules("BTCTRY"),
        "THINTRY": rules("THINTRY"),
        "OLDTRY": rules("OLDTRY", status="BREAK"),
        "NOTKTRY": rules("NOTKTRY"),
        "CROSSTRY": rules("CROSSTRY"),
        "BTCUSDT": rules("BTCUSDT", quote="USDT"),
        "DOGETRY": rules("DOGETRY"),
        "ETHTRY": rules("ETHTRY"),  # not listed: not considered at all
    }
    t = {
        "BTCTRY": ticker("BTCTRY"),
        "THINTRY": ticker("THINTRY", "10", "11", volume="1"),  # thin and wide: operator's call
        "OLDTRY": ticker("OLDTRY"),
        "CROSSTRY": ticker("CROSSTRY", "11", "10"),
        "BTCUSDT": ticker("BTCUSDT", "60000", "60001"),
        "DOGETRY": ticker("DOGETRY"),
        "ETHTRY": ticker("ETHTRY"),
    }
    cfg = UniverseConfig(
        symbols=(
            "btc_try",
            "THINTRY",
            "OLDTRY",
            "NOTKTRY",
            "CROSSTRY",
            "BTCUSDT",
            "NOPE",
            "DOGETRY",
            "BTCTRY",
        ),
        deny=("DOGETRY",),
        max_size=1,
    )
    entries = select_universe(cfg, r, t)
    got = {e.symbol: e.reason for e in entries}
    assert got == {
        "BTCTRY": u.EXPLICIT,
        "THINTRY": u.EXPLICIT,
        "BTCUSDT": u.EXPLICIT,  # quote filter does not apply to an explicit list
        "OLDTRY": u.NOT_TRADING,
        "NOTKTRY": u.NO_TICKER,
        "CROSSTRY": u.CROSSED,
        "NOPE": u.UNKNOWN_SYMBOL,
        "DOGETRY": u.DENIED,
    }
    assert len(entries) == 8  # the duplicate BTCTRY is considered once; ETHTRY not at all
    assert set(included_symbols(entries)) == {"BTCTRY", "THINTRY", "BTCUSDT"}


def test_order_included_by_volume_then_excluded_stable() -> None:
    vols = {"AAATRY": "10", "BBBTRY": "30", "CCCTRY": "20", "DDDTRY": "40", "EEETRY": "5"}
    r = {s: rules(s) for s in vols}
    t = {s: ticker(s, "100000", "100001", volume=v) for s, v in vols.items()}
    r["ZZZTRY"] = rules("ZZZTRY")  # no ticker: unknown volume sorts last
    cfg = UniverseConfig(min_quote_volume=D("1500000"), max_size=2)
    entries = select_universe(cfg, r, t)
    assert [(e.symbol, e.reason) for e in entries] == [
        ("DDDTRY", u.SELECTED),
        ("BBBTRY", u.SELECTED),
        ("CCCTRY", u.OVER_MAX_SIZE),
        ("AAATRY", u.LOW_VOLUME),
        ("EEETRY", u.LOW_VOLUME),
        ("ZZZTRY", u.NO_TICKER),
    ]
    # Same inputs in another insertion order -> same output.
    again = select_universe(cfg, dict(reversed(r.items())), dict(reversed(t.items())))
    assert again == entries


def test_equal_volume_ties_break_by_symbol() -> None:
    r = {s: rules(s) for s in ("BBBTRY", "AAATRY")}
    t = {s: ticker(s, volume="100") for s in r}
    assert included_symbols(select_universe(UniverseConfig(), r, t)) == ("AAATRY", "BBBTRY")


def test_empty_inputs_and_bad_config() -> None:
    assert select_universe(UniverseConfig(), {}, {}) == []
    with pytest.raises(ValueError):
        UniverseConfig(max_size=-1)
    assert u.spread_bps(ticker(bid="0", ask="0")) is None
