"""Scenarios: lists of calls played on the virtual clock, and the named presets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from callmeter import i18n
from callmeter.errors import InvalidInput
from callmeter.simulator.calls import CallOutcome, CallRun, CallSpec
from callmeter.simulator.pbx import SimulatedPbx

i18n.register(
    {
        "error.scenario_unknown": {
            "nl": "Onbekend scenario {name!r}: kies uit {choices}.",
            "en": "Unknown scenario {name!r}: choose from {choices}.",
        },
    }
)

OutcomeHandler = Callable[[CallOutcome], Awaitable[None]]


async def play_scenario(
    pbx: SimulatedPbx, calls: Sequence[CallSpec], on_outcome: OutcomeHandler | None = None
) -> list[CallOutcome]:
    """Play every call at its start offset, concurrently; return the outcomes in scenario order."""
    outcomes: list[CallOutcome | None] = [None] * len(calls)

    async def play(index: int, spec: CallSpec) -> None:
        await pbx.clock.sleep(spec.start_seconds)
        outcome = await CallRun(pbx, spec).run()
        outcomes[index] = outcome
        if on_outcome is not None:
            await on_outcome(outcome)

    async with asyncio.TaskGroup() as group:
        for index, spec in enumerate(calls):
            group.create_task(play(index, spec), name=f"call-{index}")
    return [outcome for outcome in outcomes if outcome is not None]


def _smoke() -> list[CallSpec]:
    return [
        CallSpec("0612345678", "Jan Jansen", talk_seconds=20, label="dial, agent hangs up"),
        CallSpec("0381234567", "Piet Pieters", start_seconds=5, talk_seconds=12, hangup_by="caller",
                 label="dial, caller hangs up"),
        CallSpec.withheld(start_seconds=10, label="withheld"),
    ]


def _busy_hour() -> list[CallSpec]:
    """Return a realistic hour on the line: mixed verdicts, overlaps, a queue, a transfer and a long call."""
    return [
        CallSpec("0612345678", "Jan Jansen", start_seconds=0, answer_seconds=4, talk_seconds=240,
                 label="dial, agent hangs up"),
        CallSpec("+31381234567", "Piet Pieters", start_seconds=30, answer_seconds=6, talk_seconds=420,
                 hangup_by="caller", label="dial, crosses a block"),
        CallSpec("0612345678", "Jan Jansen", start_seconds=60, answer_seconds=3, talk_seconds=150,
                 label="same customer at the same time"),
        CallSpec.withheld("0612345678", start_seconds=120, label="withheld with a privacy header"),
        CallSpec.withheld(start_seconds=180, label="no number"),
        CallSpec("0201234567", "Onbekend", start_seconds=240, label="unknown number"),
        CallSpec("0381234567", "Piet Pieters", start_seconds=300, answer_seconds=None, ring_timeout_seconds=20,
                 label="nobody answers"),
        CallSpec("0031612345678", "Jan Jansen", route="queue", start_seconds=420, answer_seconds=15,
                 talk_seconds=360, ring_timeout_seconds=60, label="queue"),
        CallSpec("0201112233", "Klaas Klaassen", start_seconds=600, answer_seconds=5, talk_seconds=500,
                 transfer_after_seconds=120, label="transfer to a second agent"),
        CallSpec("0612345678", "Jan Jansen", start_seconds=900, answer_seconds=2, talk_seconds=1900,
                 label="long call"),
        CallSpec("anonymous", "", start_seconds=1200, label="anonymous"),
        CallSpec("0381234567", "Piet Pieters", start_seconds=1500, answer_seconds=8, talk_seconds=95,
                 hangup_by="caller", label="short call"),
        CallSpec("31612345678", "Jan Jansen", route="queue", start_seconds=2400, answer_seconds=30,
                 talk_seconds=200, hangup_by="caller", ring_timeout_seconds=60, label="queue, caller hangs up"),
        CallSpec("0612345678", "Jan Jansen", start_seconds=3300, answer_seconds=3, talk_seconds=280,
                 label="last call of the hour"),
    ]


PRESETS: dict[str, Callable[[], list[CallSpec]]] = {
    "smoke": _smoke,
    "busy-hour": _busy_hour,
}


def preset(name: str) -> list[CallSpec]:
    """Return the calls of a named preset; raise InvalidInput for an unknown name."""
    factory = PRESETS.get(name)
    if factory is None:
        raise InvalidInput("error.scenario_unknown", name=name, choices=", ".join(sorted(PRESETS)))
    return factory()
