"""Jinja2 templates and the formatting helpers they use.

Money is shown as ``€ 12,50`` (English: ``€12.50``) and times in the
configured zone, Europe/Amsterdam by default.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import URL

from api.web import texts
from api.web.session import csrf_token, current_staff, language, settings_of
from callmeter import i18n
from callmeter.money import format_cents
from callmeter.numbers import display

TEMPLATES: Final = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def format_duration(milliseconds: int) -> str:
    """Format a duration as m:ss, or h:mm:ss from one hour on."""
    seconds = max(0, milliseconds) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def format_number(e164: str | None, raw: str = "") -> str:
    """Show a stored number in the national format, falling back to what the PBX sent."""
    if e164:
        return display(e164)
    return raw or "—"


class Formatter:
    """Formatting bound to one request's language and the configured time zone."""

    def __init__(self, request: Request) -> None:
        self.language = language(request)
        self.zone_info = settings_of(request).zone_info

    def t(self, message_id: str, **params: object) -> str:
        return i18n.text(message_id, self.language, **params)

    def money(self, cents: int) -> str:
        return format_cents(cents, self.language)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone_info)

    def time(self, at: datetime | None) -> str:
        return "—" if at is None else self.local(at).strftime("%H:%M:%S")

    def datetime(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        pattern = "%d-%m-%Y %H:%M" if self.language == "nl" else "%Y-%m-%d %H:%M"
        return self.local(at).strftime(pattern)

    def date(self, day: date) -> str:
        weekday = texts.WEEKDAY_NAMES[self.language][day.weekday()]
        pattern = "%d-%m-%Y" if self.language == "nl" else "%Y-%m-%d"
        return f"{weekday} {day.strftime(pattern)}"

    def verdict(self, verdict: str) -> str:
        return texts.verdict_text(verdict, self.language)

    def zone(self, zone: int | None) -> str:
        return self.t("web.zone.none" if zone is None else f"web.zone.{zone}")

    def duration(self, milliseconds: int) -> str:
        return format_duration(milliseconds)

    def number(self, e164: str | None, raw: str = "") -> str:
        return format_number(e164, raw)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a page with the layout's shared context."""
    formatter = Formatter(request)
    other_language = "en" if formatter.language == "nl" else "nl"
    staff = current_staff(request)
    shared: dict[str, Any] = {
        "f": formatter,
        "t": formatter.t,
        "lang": formatter.language,
        "other_lang": other_language,
        # The language link keeps the page's other query parameters, such as a search.
        "language_url": _relative(request.url.include_query_params(lang=other_language)),
        "staff": staff,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
    }
    shared.update(context)
    return TEMPLATES.TemplateResponse(request, template, shared, status_code=status_code)


def _relative(url: URL) -> str:
    return f"{url.path}?{url.query}" if url.query else url.path


def render_error(request: Request, status_code: int, message_id: str, **params: object) -> HTMLResponse:
    return render_message(request, status_code, i18n.text(message_id, language(request), **params))


def render_message(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"message": message, "status_code": status_code}, status_code)


def flash(request: Request, kind: str, message: str) -> None:
    """Keep a one-time notice ("ok" or "error") for the next page this session renders."""
    request.session["flash"] = {"kind": kind, "text": message}
