"""The shipped Asterisk configuration agrees with the code that relies on it."""

from __future__ import annotations

import re
from pathlib import Path

from callmeter.admission.verdicts import PROMPTS
from callmeter.settings import Settings

DIALPLAN = Path(__file__).parents[2] / "dialplan"


def _sounds_played() -> set[str]:
    extensions = (DIALPLAN / "extensions.conf").read_text(encoding="utf-8")
    return set(re.findall(r"callmeter/[a-z-]+(?![a-z.-])", extensions))


class TestDialplan:
    def test_every_prompt_has_dutch_and_english_text(self) -> None:
        sounds = {prompt for prompt in PROMPTS.values() if prompt} | _sounds_played()
        assert "callmeter/try-again-later" in sounds
        for sound in sorted(sounds):
            name = sound.removeprefix("callmeter/")
            for language in ("nl", "en"):
                text = DIALPLAN / "prompts" / language / f"{name}.txt"
                assert text.is_file(), text
                assert text.read_text(encoding="utf-8").strip(), text

    def test_credit_exhausted_context_matches_settings(self) -> None:
        metering = Settings().metering
        extensions = (DIALPLAN / "extensions.conf").read_text(encoding="utf-8")
        assert f"[{metering.credit_exhausted_context}]" in extensions
        assert (
            f"exten => {metering.credit_exhausted_extension},{metering.credit_exhausted_priority},"
            in extensions
        )

    def test_agi_runs_before_anything_answers(self) -> None:
        extensions = (DIALPLAN / "extensions.conf").read_text(encoding="utf-8")
        context = extensions.split("\n[callmeter-038]\n", 1)[1].split("\n[", 1)[0]
        agi_at = context.index("AGI(${CALLMETER_AGI})")
        assert "Answer(" not in context
        for answering in ("Queue(", "Dial(", "Playback("):
            assert context.index(answering) > agi_at, answering

    def test_manager_user_has_least_privilege(self) -> None:
        manager = (DIALPLAN / "manager.conf").read_text(encoding="utf-8")
        assert "\nread = call,cdr,agent,system\n" in manager
        assert "\nwrite = call,reporting\n" in manager
        assert "\ntimestampevents = yes\n" in manager
        assert "\nchannelvars = CALLERID(num-pres)\n" in manager
