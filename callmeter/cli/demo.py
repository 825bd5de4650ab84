"""`callmeter demo`: the main job on the embedded default."""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.table import Table

from callmeter import i18n
from callmeter.cli import app
from callmeter.cli.common import LangOption, console, settings_and_language
from callmeter.cli.tariff import week_table
from callmeter.clock import utc_now
from callmeter.money import format_cents
from callmeter.tariffs import Tariff

i18n.register(
    {
        "demo.quotes": {"nl": "Voorbeeldprijzen (prepaid)", "en": "Example prices (prepaid)"},
        "demo.column.answered": {"nl": "Opgenomen", "en": "Answered"},
        "demo.column.metered": {"nl": "Gesprekstijd", "en": "Metered"},
        "demo.column.blocks": {"nl": "Blokken", "en": "Blocks"},
        "demo.column.price": {"nl": "Prijs", "en": "Price"},
    }
)


@app.command()
def demo(lang: LangOption = None) -> None:
    """Toon de tarieven van deze week en een paar voorbeeldprijzen."""
    settings, language = settings_and_language(lang)
    engine = Tariff(settings)
    now = utc_now().astimezone(settings.zone_info)
    console.print(week_table(settings, language, now.date()))

    monday = now.date() - timedelta(days=now.weekday())
    examples = [
        (datetime.combine(monday + timedelta(days=1), datetime.min.time().replace(hour=10)), 240),
        (datetime.combine(monday + timedelta(days=1), datetime.min.time().replace(hour=17, minute=57)), 360),
        (datetime.combine(monday + timedelta(days=5), datetime.min.time().replace(hour=11, minute=58)), 600),
    ]
    table = Table(title=i18n.text("demo.quotes", language))
    for column in ("demo.column.answered", "demo.column.metered", "demo.column.blocks", "demo.column.price"):
        table.add_column(i18n.text(column, language))
    for wall_clock, seconds in examples:
        answered_at = wall_clock.replace(tzinfo=settings.zone_info)
        quote = engine.quote("prepaid", answered_at, seconds * 1000)
        table.add_row(
            answered_at.strftime("%a %d-%m %H:%M"),
            f"{seconds} s",
            " + ".join(format_cents(block.rate_cents, language) for block in quote.blocks),
            format_cents(quote.total_cents, language),
        )
    console.print(table)
