"""Dutch and English texts of the staff web page.

Every key starts with ``web.`` so that the page never collides with the
texts of the CLI or the API.
"""

from __future__ import annotations

from callmeter import i18n

i18n.register(
    {
        # Layout and navigation.
        "web.title": {"nl": "callmeter helpdesk", "en": "callmeter helpdesk"},
        "web.nav.overview": {"nl": "Overzicht", "en": "Overview"},
        "web.nav.customers": {"nl": "Klanten", "en": "Customers"},
        "web.nav.tariffs": {"nl": "Tarieven", "en": "Rates"},
        "web.nav.logout": {"nl": "Afmelden", "en": "Log out"},
        "web.nav.language": {"nl": "English", "en": "Nederlands"},
        "web.nav.signed_in": {
            "nl": "Aangemeld als {name} ({scope})",
            "en": "Signed in as {name} ({scope})",
        },
        "web.scope.read": {"nl": "alleen lezen", "en": "read only"},
        "web.scope.write": {"nl": "lezen en schrijven", "en": "read and write"},
        "web.skip": {"nl": "Naar de inhoud", "en": "Skip to content"},
        # Login.
        "web.login.title": {"nl": "Aanmelden", "en": "Log in"},
        "web.login.token": {"nl": "Token", "en": "Token"},
        "web.login.hint": {
            "nl": "Gebruik een token van 'callmeter token create'.",
            "en": "Use a token from 'callmeter token create'.",
        },
        "web.login.submit": {"nl": "Aanmelden", "en": "Log in"},
        "web.login.failed": {
            "nl": "Aanmelden mislukt: het token is ongeldig of ingetrokken. Vraag een beheerder om een nieuw token.",
            "en": "Login failed: the token is invalid or revoked. Ask an administrator for a new token.",
        },
        "web.logged_out": {"nl": "U bent afgemeld.", "en": "You are logged out."},
        # Errors.
        "web.error.title": {"nl": "Fout", "en": "Error"},
        "web.error.read_only": {
            "nl": "Uw token mag alleen lezen: voor wijzigingen is een token met scope write nodig.",
            "en": "Your token may only read: changes need a token with scope write.",
        },
        "web.error.csrf": {
            "nl": "Het formulier is verlopen of niet van deze pagina: laad de pagina opnieuw en probeer het nog eens.",
            "en": "The form has expired or did not come from this page: reload the page and try again.",
        },
        "web.error.not_found": {
            "nl": "Deze pagina bestaat niet.",
            "en": "This page does not exist.",
        },
        "web.error.form_key": {
            "nl": "Het formulier mist zijn sleutel: laad de klantpagina opnieuw en vul het formulier nog eens in.",
            "en": "The form is missing its key: reload the customer page and fill in the form again.",
        },
        "web.error.back": {"nl": "Terug", "en": "Back"},
        # Overview.
        "web.overview.title": {"nl": "Overzicht", "en": "Overview"},
        "web.overview.active": {"nl": "Actieve gesprekken", "en": "Active calls"},
        "web.overview.no_active": {"nl": "Er zijn nu geen gesprekken.", "en": "There are no calls now."},
        "web.overview.today": {"nl": "Gesprekken van vandaag ({date})", "en": "Today's calls ({date})"},
        "web.overview.no_today": {"nl": "Vandaag nog geen gesprekken.", "en": "No calls yet today."},
        "web.overview.updated": {"nl": "Bijgewerkt om {time}", "en": "Updated at {time}"},
        "web.overview.stale": {
            "nl": "Bijwerken mislukt; nieuwe poging over enkele seconden.",
            "en": "Update failed; trying again in a few seconds.",
        },
        "web.overview.logged_out": {
            "nl": "De sessie is verlopen: meld u opnieuw aan.",
            "en": "The session has expired: log in again.",
        },
        "web.column.caller": {"nl": "Beller", "en": "Caller"},
        "web.column.helpdesk_id": {"nl": "Helpdesk-ID", "en": "Helpdesk ID"},
        "web.column.customer": {"nl": "Klant", "en": "Customer"},
        "web.column.state": {"nl": "Status", "en": "State"},
        "web.column.metered": {"nl": "Gesprekstijd", "en": "Metered time"},
        "web.column.blocks": {"nl": "Blokken", "en": "Blocks"},
        "web.column.left": {"nl": "Resterend", "en": "Time left"},
        "web.column.time": {"nl": "Tijd", "en": "Time"},
        "web.column.verdict": {"nl": "Besluit", "en": "Verdict"},
        "web.column.charged": {"nl": "Afgeschreven", "en": "Charged"},
        "web.column.name": {"nl": "Naam", "en": "Name"},
        "web.column.plan": {"nl": "Abonnement", "en": "Plan"},
        "web.column.balance": {"nl": "Saldo", "en": "Balance"},
        "web.column.available": {"nl": "Beschikbaar", "en": "Available"},
        "web.column.number": {"nl": "Nummer", "en": "Number"},
        "web.column.entered_as": {"nl": "Ingevoerd als", "en": "Entered as"},
        "web.column.date": {"nl": "Datum", "en": "Date"},
        "web.column.kind": {"nl": "Soort", "en": "Kind"},
        "web.column.amount": {"nl": "Bedrag", "en": "Amount"},
        "web.column.running": {"nl": "Saldo na", "en": "Balance after"},
        "web.column.reference": {"nl": "Kenmerk", "en": "Reference"},
        "web.column.by": {"nl": "Door", "en": "By"},
        "web.column.block": {"nl": "Blok", "en": "Block"},
        "web.column.starts": {"nl": "Begint", "en": "Starts"},
        "web.column.zone": {"nl": "Zone", "en": "Zone"},
        "web.column.rate": {"nl": "Tarief", "en": "Rate"},
        "web.column.reason": {"nl": "Reden", "en": "Reason"},
        "web.column.day": {"nl": "Dag", "en": "Day"},
        "web.column.hours": {"nl": "Openingstijden", "en": "Opening hours"},
        "web.column.holiday": {"nl": "Feestdag", "en": "Holiday"},
        "web.column.zone1": {"nl": "Zone 1 (normaal)", "en": "Zone 1 (normal)"},
        "web.column.zone2": {"nl": "Zone 2 (hoog)", "en": "Zone 2 (high)"},
        "web.column.outside": {"nl": "Buiten openingstijden", "en": "Outside hours"},
        "web.column.total": {"nl": "Totaal", "en": "Total"},
        "web.column.action": {"nl": "Actie", "en": "Action"},
        # Call states and verdicts.
        "web.state.admitted": {"nl": "wacht op medewerker", "en": "waiting for an agent"},
        "web.state.answered": {"nl": "in gesprek", "en": "in conversation"},
        "web.state.ended": {"nl": "beëindigd", "en": "ended"},
        "web.state.refused": {"nl": "geweigerd", "en": "refused"},
        "web.verdict.admitted": {"nl": "Toegelaten", "en": "Admitted"},
        "web.verdict.closed": {
            "nl": "Geweigerd: gebeld buiten de openingstijden.",
            "en": "Refused: called outside the opening hours.",
        },
        "web.verdict.withheld": {
            "nl": "Geweigerd: het nummer was afgeschermd (nummerweergave stond uit).",
            "en": "Refused: the number was withheld (caller ID was off).",
        },
        "web.verdict.unknown_number": {
            "nl": "Geweigerd: het nummer is bij geen enkele klant geregistreerd.",
            "en": "Refused: the number is not registered to any customer.",
        },
        "web.verdict.blocked": {
            "nl": "Geweigerd: de klant is geblokkeerd of de helpdesktoegang is verlopen.",
            "en": "Refused: the customer is blocked or the helpdesk access has expired.",
        },
        "web.verdict.no_credit": {
            "nl": "Geweigerd: het beschikbare tegoed dekt niet eens één blok.",
            "en": "Refused: the available credit does not cover even one block.",
        },
        "web.verdict.other": {"nl": "Besluit {verdict}", "en": "Verdict {verdict}"},
        "web.cut_off": {"nl": "afgebroken: tegoed op", "en": "cut off: credit used up"},
        "web.end_estimated": {"nl": "einde geschat", "en": "end estimated"},
        # Customers.
        "web.customers.title": {"nl": "Klanten", "en": "Customers"},
        "web.customers.search": {"nl": "Zoeken", "en": "Search"},
        "web.customers.search_label": {
            "nl": "Helpdesk-ID, naam of telefoonnummer",
            "en": "Helpdesk ID, name or phone number",
        },
        "web.customers.found": {"nl": "{count} gevonden", "en": "{count} found"},
        "web.customers.none": {"nl": "Geen klanten gevonden.", "en": "No customers found."},
        "web.customers.more": {
            "nl": "Alleen de eerste {shown} worden getoond: zoek specifieker.",
            "en": "Only the first {shown} are shown: narrow the search.",
        },
        "web.plan.prepaid": {"nl": "prepaid", "en": "prepaid"},
        "web.plan.contract": {"nl": "contract", "en": "contract"},
        "web.plan.postpaid": {"nl": "achteraf betalen", "en": "post-paid"},
        "web.blocked": {"nl": "geblokkeerd", "en": "blocked"},
        "web.access_until": {"nl": "toegang tot en met {date}", "en": "access until {date}"},
        # One customer.
        "web.customer.credit": {"nl": "Tegoed", "en": "Credit"},
        "web.customer.balance": {"nl": "Saldo", "en": "Balance"},
        "web.customer.reserved": {"nl": "Gereserveerd", "en": "Reserved"},
        "web.customer.available": {"nl": "Beschikbaar", "en": "Available"},
        "web.customer.not_prepaid": {
            "nl": "Dit is geen prepaid klant: het gebruik wordt gefactureerd en niet van het tegoed afgeschreven.",
            "en": "This is not a prepaid customer: usage is invoiced, not deducted from credit.",
        },
        "web.customer.numbers": {"nl": "Telefoonnummers", "en": "Phone numbers"},
        "web.customer.no_numbers": {"nl": "Nog geen nummers geregistreerd.", "en": "No numbers registered yet."},
        "web.customer.add_number": {"nl": "Nummer toevoegen", "en": "Add number"},
        "web.customer.remove_number": {"nl": "Verwijderen", "en": "Remove"},
        "web.customer.number_added": {"nl": "Nummer {number} toegevoegd.", "en": "Number {number} added."},
        "web.customer.number_removed": {"nl": "Nummer {number} verwijderd.", "en": "Number {number} removed."},
        "web.customer.topup": {"nl": "Opwaarderen", "en": "Top up"},
        "web.customer.amount": {"nl": "Bedrag in euro (bijv. 50 of 12,50)", "en": "Amount in euros (e.g. 50 or 12.50)"},
        "web.customer.invoice": {"nl": "Factuurnummer", "en": "Invoice reference"},
        "web.customer.topup_next": {"nl": "Controleren", "en": "Review"},
        "web.customer.confirm_title": {"nl": "Opwaardering bevestigen", "en": "Confirm top-up"},
        "web.customer.confirm_text": {
            "nl": "Boek {amount} op het tegoed van {name} ({helpdesk_id}) voor factuur {reference}?",
            "en": "Credit {amount} to {name} ({helpdesk_id}) for invoice {reference}?",
        },
        "web.customer.confirm": {"nl": "Bevestigen en boeken", "en": "Confirm and post"},
        "web.customer.cancel": {"nl": "Annuleren", "en": "Cancel"},
        "web.customer.topup_posted": {
            "nl": "Opwaardering van {amount} geboekt (factuur {reference}).",
            "en": "Top-up of {amount} posted (invoice {reference}).",
        },
        "web.customer.topup_repeated": {
            "nl": "Deze opwaardering was al geboekt; er is niets dubbel geboekt.",
            "en": "This top-up had already been posted; nothing was posted twice.",
        },
        "web.customer.ledger": {"nl": "Grootboek", "en": "Ledger"},
        "web.customer.ledger_empty": {"nl": "Nog geen boekingen.", "en": "No entries yet."},
        "web.customer.ledger_older": {
            "nl": "De nieuwste {shown} van {total} boekingen; oudere staan in 'callmeter ledger'.",
            "en": "The newest {shown} of {total} entries; older ones are in 'callmeter ledger'.",
        },
        "web.customer.hold_note": {
            "nl": "Reserveringen en vrijgaven tellen niet mee in het saldo.",
            "en": "Reservations and releases do not count in the balance.",
        },
        "web.customer.calls": {"nl": "Gesprekken", "en": "Calls"},
        "web.customer.no_calls": {"nl": "Nog geen gesprekken.", "en": "No calls yet."},
        "web.customer.no_blocks": {"nl": "geen blokken", "en": "no blocks"},
        "web.customer.refusals": {"nl": "Geweigerde oproepen", "en": "Refused calls"},
        "web.customer.no_refusals": {"nl": "Geen geweigerde oproepen.", "en": "No refused calls."},
        "web.customer.usage": {"nl": "Gebruik in de laatste 30 dagen", "en": "Usage in the last 30 days"},
        "web.customer.usage_chart": {
            "nl": "Blokken per dag, per zone, van {first} tot en met {last}",
            "en": "Blocks per day, per zone, from {first} to {last}",
        },
        "web.customer.usage_table": {"nl": "Cijfers per zone", "en": "Figures per zone"},
        "web.customer.usage_none": {
            "nl": "Geen gebruik in de laatste 30 dagen.",
            "en": "No usage in the last 30 days.",
        },
        "web.kind.topup": {"nl": "opwaardering", "en": "top-up"},
        "web.kind.charge": {"nl": "afschrijving", "en": "charge"},
        "web.kind.correction": {"nl": "correctie", "en": "correction"},
        "web.kind.reservation": {"nl": "reservering", "en": "reservation"},
        "web.kind.release": {"nl": "vrijgave", "en": "release"},
        "web.zone.1": {"nl": "zone 1", "en": "zone 1"},
        "web.zone.2": {"nl": "zone 2", "en": "zone 2"},
        "web.zone.none": {"nl": "buiten openingstijden", "en": "outside hours"},
        # Rates.
        "web.tariffs.title": {"nl": "Tarieven", "en": "Rates"},
        "web.tariffs.week": {"nl": "Week van {monday}", "en": "Week of {monday}"},
        "web.tariffs.rates": {
            "nl": "Prijs per blok van {minutes} minuten",
            "en": "Price per block of {minutes} minutes",
        },
        "web.tariffs.holidays": {
            "nl": "Feestdagen in de komende 60 dagen",
            "en": "Public holidays in the coming 60 days",
        },
        "web.tariffs.no_holidays": {
            "nl": "Geen feestdagen in de komende 60 dagen.",
            "en": "No public holidays in the coming 60 days.",
        },
        "web.tariffs.policy.sunday": {
            "nl": "Op feestdagen gelden de tijden van zondag.",
            "en": "On public holidays the Sunday hours apply.",
        },
        "web.tariffs.policy.closed": {
            "nl": "Op feestdagen is de lijn gesloten.",
            "en": "On public holidays the line is closed.",
        },
        "web.tariffs.policy.weekday": {
            "nl": "Feestdagen gelden als gewone dagen.",
            "en": "Public holidays count as ordinary days.",
        },
        "web.tariffs.closed": {"nl": "gesloten", "en": "closed"},
        "web.tariffs.legend": {"nl": "Legenda", "en": "Legend"},
        "web.tariffs.outside_note": {
            "nl": "Een blok dat buiten de openingstijden begint, kost het tarief van zone 2.",
            "en": "A block that starts outside hours costs the zone 2 rate.",
        },
    }
)

WEEKDAY_NAMES: dict[str, tuple[str, ...]] = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}

VERDICTS_WITH_TEXT = ("admitted", "closed", "withheld", "unknown_number", "blocked", "no_credit")


def verdict_text(verdict: str, language: str) -> str:
    """Return the sentence that explains to staff why a call was admitted or refused."""
    if verdict in VERDICTS_WITH_TEXT:
        return i18n.text(f"web.verdict.{verdict}", language)
    return i18n.text("web.verdict.other", language, verdict=verdict)
