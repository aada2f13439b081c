"""The tariff check (issue 22): what a household would pay under the regulated residential
tariffs (TRV, *tarif bleu*) with each option (Base, Heures creuses, Tempo) and power.

Functional core, pure and numpy-vectorised over steps (no pandas, no I/O in
:mod:`pvshare.tariffs.check`); the readers of the price and colour files are in
:mod:`pvshare.tariffs.prices` and :mod:`pvshare.tariffs.tempo`. Rules: docs/design.md,
section "Tariff check".

Public API (stable, used by the household register and the reports)::

    from pvshare.tariffs import (check_tariffs, load_prices, load_tempo, TariffCheck,
                                 OptionCost, Unavailable, PriceTable, TempoCalendar)
"""

from pvshare.tariffs.check import (
    DEFAULT_OFFPEAK_HOURS,
    PEAK_MARGIN,
    OptionCost,
    TariffCheck,
    Unavailable,
    allowed_kvas,
    check_tariffs,
)
from pvshare.tariffs.prices import (
    OPTIONS,
    PERIODS,
    STANDARD_KVA,
    PriceRow,
    PriceTable,
    bundled_prices,
    load_prices,
    parse_prices,
)
from pvshare.tariffs.tempo import (
    COLORS,
    TempoCalendar,
    bundled_tempo,
    load_tempo,
    parse_tempo,
)

__all__ = [
    "COLORS", "DEFAULT_OFFPEAK_HOURS", "OPTIONS", "PEAK_MARGIN", "PERIODS", "STANDARD_KVA",
    "OptionCost", "PriceRow", "PriceTable", "TariffCheck", "TempoCalendar", "Unavailable",
    "allowed_kvas", "bundled_prices", "bundled_tempo", "check_tariffs", "load_prices",
    "load_tempo", "parse_prices", "parse_tempo",
]
