"""Bad prices, colours and arguments given to ``pvshare tariffs`` (pvshare/tariffs/): each a
clean error naming the file, the line and the column (or the option), never a price of zero."""

from __future__ import annotations

from pathlib import Path

from tests.badinput.corpus import BIG_LINE, w
from tests.badinput.harness import Case

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "enedis"


def _curve() -> str:
    """Two local days (2025-03-03, 2025-03-04), 300 W, ends of intervals with offsets."""
    rows = []
    for i in range(96):
        h, m = divmod(30 * (i + 1), 60)
        rows.append(f"2025-03-{3 + h // 24:02d}T{h % 24:02d}:{m:02d}:00+01:00,300")
    return "time,power_w\n" + "\n".join(rows) + "\n"


HEAD = "from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
PRICES = HEAD + ("2025-02-01,base,6,13.76,base,0.2016\n"
                 "2025-02-01,hphc,6,15.96,hp,0.2146\n2025-02-01,hphc,6,15.96,hc,0.1696\n")
COLORS = "date,color\n" + "".join(f"2025-03-{d:02d},bleu\n" for d in range(2, 5))
TEMPO_PRICES = PRICES + "".join(f"2025-02-01,tempo,6,13.03,{p},0.15\n" for p in (
    "bleu_hp", "bleu_hc", "blanc_hp", "blanc_hc", "rouge_hp", "rouge_hc"))


def tariffs(prices: str | bytes | None = PRICES, tempo: str | bytes | None = COLORS,
            *extra: str, option: str = "base", kva: str = "6") -> callable:
    def build(tmp: Path) -> list[str]:
        args = ["tariffs", "--input", w(tmp, "curve.csv", _curve()), "--kva", kva,
                "--option", option]
        if prices is not None:
            args += ["--prices", w(tmp, "prices.csv", prices)]
        if tempo is not None:
            args += ["--tempo", w(tmp, "tempo.csv", tempo)]
        return args + list(extra)
    return build


def price_line(line: str) -> str:
    return PRICES + line + "\n"


TARIFF_CASES: list[Case] = [
    Case("tariffs-valid", tariffs(), "ok"),
    Case("tariffs-valid-json", tariffs(TEMPO_PRICES, COLORS, "--json", option="tempo"), "ok"),
    Case("tariffs-valid-bundled", lambda tmp: [
        "tariffs", "--input", str(FIX / "enedis_rows_2023-10.csv"), "--kva", "6",
        "--option", "base"], "ok"),
    Case("tariffs-prices-missing-file", lambda tmp: [
        "tariffs", "--input", w(tmp, "curve.csv", _curve()), "--kva", "6", "--option", "base",
        "--prices", "nope.csv"], mention=("nope.csv",)),
    Case("tariffs-prices-empty", tariffs(""), mention=("prices.csv",)),
    Case("tariffs-prices-binary", tariffs(bytes(range(256)) * 4), mention=("prices.csv",)),
    Case("tariffs-prices-8mb-line", tariffs(HEAD + BIG_LINE), mention=("prices.csv",)),
    Case("tariffs-prices-no-column", tariffs(PRICES.replace("eur_per_kwh", "price")),
         mention=("prices.csv", "line 1", "eur_per_kwh")),
    Case("tariffs-prices-unknown-column", tariffs(PRICES.replace("eur_per_kwh\n",
                                                                 "eur_per_kwh,vat\n", 1)),
         mention=("prices.csv", "line 1", "vat")),
    Case("tariffs-prices-bad-date", tariffs(price_line("01/02/2025,base,9,17.6,base,0.2")),
         mention=("prices.csv", "line 5", "from")),
    Case("tariffs-prices-bad-option", tariffs(price_line("2025-02-01,ejp,9,17.6,base,0.2")),
         mention=("prices.csv", "line 5", "option")),
    Case("tariffs-prices-bad-kva", tariffs(price_line("2025-02-01,base,7,17.6,base,0.2")),
         mention=("prices.csv", "line 5", "kva")),
    Case("tariffs-prices-bad-period", tariffs(price_line("2025-02-01,base,9,17.6,hp,0.2")),
         mention=("prices.csv", "line 5", "period")),
    Case("tariffs-prices-bad-amount", tariffs(price_line("2025-02-01,base,9,17.6,base,abc")),
         mention=("prices.csv", "line 5", "eur_per_kwh")),
    Case("tariffs-prices-negative", tariffs(price_line("2025-02-01,base,9,17.6,base,-0.2")),
         mention=("prices.csv", "line 5", "eur_per_kwh")),
    Case("tariffs-prices-in-cents", tariffs(price_line("2025-02-01,base,9,17.6,base,20.16")),
         mention=("prices.csv", "line 5", "eur_per_kwh")),
    Case("tariffs-prices-nan", tariffs(price_line("2025-02-01,base,9,nan,base,0.2")),
         mention=("prices.csv", "line 5", "subscription_eur_per_month")),
    Case("tariffs-prices-half-gap", tariffs(price_line("2025-02-01,base,9,,base,0.2")),
         mention=("prices.csv", "line 5", "subscription_eur_per_month")),
    Case("tariffs-prices-twice", tariffs(price_line("2025-02-01,base,6,13.76,base,0.2")),
         mention=("prices.csv", "line 5", "line 2")),
    Case("tariffs-prices-two-subscriptions", tariffs(PRICES.replace(
        "2025-02-01,hphc,6,15.96,hc", "2025-02-01,hphc,6,15.97,hc")),
         mention=("prices.csv", "line 4", "subscription")),
    Case("tariffs-prices-extra-cell", tariffs(price_line("2025-02-01,base,9,17.6,base,0.2,x")),
         mention=("prices.csv", "line 5")),
    Case("tariffs-prices-yearly-disagrees", tariffs(
        HEAD.replace("\n", ",subscription_eur_per_year\n") + "2025-02-01,base,6,13.76,base,"
        "0.2016,175.17\n"), mention=("prices.csv", "line 2", "subscription_eur_per_month")),
    Case("tariffs-no-price-for-the-option", tariffs(option="base", kva="9"),
         mention=("prices.csv", "base", "9 kVA", "2025-03-03")),
    Case("tariffs-no-price-for-the-date", tariffs(PRICES.replace("2025-02-01", "2025-03-04")),
         mention=("prices.csv", "2025-03-03")),
    Case("tariffs-gap-row", tariffs(price_line("2025-03-04,base,6,,base,")),
         mention=("prices.csv", "2025-03-04")),
    Case("tariffs-tempo-unknown-colour", tariffs(TEMPO_PRICES, COLORS.replace(
        "2025-03-03,bleu", "2025-03-03,violet"), option="tempo"),
         mention=("tempo.csv", "line 3", "color", "violet")),
    Case("tariffs-tempo-bad-date", tariffs(TEMPO_PRICES, COLORS + "3 mars,bleu\n",
                                           option="tempo"),
         mention=("tempo.csv", "line 5", "date")),
    Case("tariffs-tempo-conflict", tariffs(TEMPO_PRICES, COLORS + "2025-03-03,rouge\n",
                                           option="tempo"),
         mention=("tempo.csv", "line 5", "line 3")),
    Case("tariffs-tempo-no-header", tariffs(TEMPO_PRICES, COLORS.replace("date,color\n", ""),
                                            option="tempo"),
         mention=("tempo.csv", "line 1")),
    Case("tariffs-tempo-missing-day", tariffs(TEMPO_PRICES, COLORS.replace(
        "2025-03-03,bleu\n", ""), option="tempo"), mention=("tempo.csv", "2025-03-03")),
    Case("tariffs-tempo-missing-day-other-option", tariffs(TEMPO_PRICES, COLORS.replace(
        "2025-03-03,bleu\n", ""), "--json"), "warn", mention=("Tempo", "03/03/2025")),
    Case("tariffs-bad-kva", tariffs(kva="7"), mention=("--kva", "7")),
    Case("tariffs-bad-option", tariffs(option="ejp"), mention=("ejp",)),
    Case("tariffs-bad-offpeak", tariffs(PRICES, COLORS, "--offpeak-hours", "22h-6h"),
         mention=("--offpeak-hours", "22h-6h")),
    Case("tariffs-bad-curve", lambda tmp: [
        "tariffs", "--input", w(tmp, "curve.csv", "time,power_w\nabc,1\n"), "--kva", "6",
        "--option", "base", "--prices", w(tmp, "prices.csv", PRICES)],
         mention=("curve.csv", "line 2")),
]
