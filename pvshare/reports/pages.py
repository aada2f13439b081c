"""Assemble each report page: figures (analysis) + charts → HTML text."""

from __future__ import annotations

from pvshare.reports import charts
from pvshare.reports.render import render_html


def household_page(a, label: str = "", *, tariff=None, tariff_note: str = "",
                   followup=None) -> str:
    """HTML of the household coaching report for a :class:`~.household.HouseholdAnalysis`,
    with the tariff check (:class:`pvshare.tariffs.TariffCheck`) or why it is not there,
    and with ``followup`` (a :class:`pvshare.households.caseload.Followup`) the visits,
    before and after.
    """
    c = {
        "monthly": charts.monthly_against_reference(a.months, a.month_kwh,
                                                    a.month_reference_kwh),
        "profile": charts.daily_profile(a.profile_hours, a.profile_weekday_w,
                                        a.profile_weekend_w, a.solar_hours),
    }
    extra = {}
    if followup is not None:
        from pvshare.households.register import INTERVENTIONS
        from pvshare.reports.followup import weekly_chart
        c["followup"] = weekly_chart(followup)
        extra["labels"] = INTERVENTIONS
    return render_html("household.html.j2", a=a, charts=c, label=label, tariff=tariff,
                       tariff_note=tariff_note, option_names=OPTION_NAMES_FR,
                       followup=followup, **extra)


#: The regulated options' names in the reports.
OPTION_NAMES_FR = {"base": "Base", "hphc": "Heures creuses", "tempo": "Tempo"}


#: The tenant statement's chart titles. The statement is a French document (its templates,
#: ``templates/*.html.j2``, are French whatever the locale), not a message of the command:
#: its text stays out of the message catalogue.
DAILY_TITLE = "Votre consommation jour par jour"
TREND_TITLE = "Votre consommation mois par mois"


def tenant_page(s, *, site_name: str, flat_label: str = "") -> str:
    """HTML of a tenant's monthly statement (:class:`~.tenant.TenantStatement`).

    Only this tenant's own data and the building's anonymous median appear on the page.
    """
    c = {
        "daily": charts.roof_and_supplier_bars(
            s.days, s.day_cons_kwh, s.day_auto_kwh, monthly=False,
            title=DAILY_TITLE),
        "trend": charts.roof_and_supplier_bars(
            s.trend_months, s.trend_cons_kwh, s.trend_auto_kwh, monthly=True,
            median_kwh=None, title=TREND_TITLE),
    }
    return render_html("tenant.html.j2", s=s, charts=c, site_name=site_name,
                       flat_label=flat_label)


def building_page(b, *, site_name: str, period_label: str, producer_prm: str) -> str:
    """HTML of the building report (:class:`~.building.BuildingAnalysis`)."""
    c = {"series": charts.building_series(
        b.series_labels, b.series_prod_kwh, b.series_auto_kwh, b.series_cons_kwh,
        b.series_forecast_kwh, monthly=len(b.period) == 4)}
    return render_html("building.html.j2", b=b, charts=c, site_name=site_name,
                       period_label=period_label, producer_prm=producer_prm)
