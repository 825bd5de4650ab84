"""The metering state of one admitted call, and the billing rules that read it.

A call is one inbound channel, tracked by the ``Uniqueid`` that admission
recorded. Metered time starts at the channel's first ``BridgeEnter`` after
an answered dial (a ``DialEnd`` with ``DialStatus: ANSWER`` or a queue's
``AgentConnect``). It ends at the channel's ``Hangup`` or, when the channel
left its bridge earlier and was never bridged again, at that
``BridgeLeave``. A transfer (leave, then enter another bridge) keeps the
meter running through the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callmeter.settings import Plan
from callmeter.tariffs import Tariff


@dataclass
class MeteredCall:
    """The metering state of one admitted call."""

    call_id: int
    uniqueid: str
    plan: Plan
    customer_id: int | None
    helpdesk_id: str | None
    limit_ms: int
    admitted_at: datetime
    channel: str = ""
    linkedid: str | None = None
    dial_answered: bool = False
    answered_at: datetime | None = None
    answer_estimated: bool = False
    in_bridge: bool = False
    bridge_left_at: datetime | None = None
    ended_at: datetime | None = None
    last_event_at: datetime | None = None
    charged_blocks: set[int] = field(default_factory=set)
    charged_cents: int = 0
    cut_off: bool = False

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def metered_end(self, hangup_at: datetime) -> datetime:
        """Return where metered time stops for a hangup at ``hangup_at``."""
        if self.bridge_left_at is not None and not self.in_bridge:
            return min(self.bridge_left_at, hangup_at)
        return hangup_at

    def metered_ms(self, hangup_at: datetime) -> int:
        if self.answered_at is None:
            return 0
        elapsed = self.metered_end(hangup_at) - self.answered_at
        return max(0, round(elapsed / timedelta(milliseconds=1)))

    def granted_blocks(self, tariff: Tariff) -> int:
        """Count the blocks the grant pays for; a block past the grant is never charged."""
        grant_ms = max(0, self.limit_ms - tariff.grace_ms)
        return -(-grant_ms // tariff.block_ms)

    def charge_moment(self, tariff: Tariff, n: int) -> datetime:
        """Return when block n becomes chargeable: its start plus the free grace period."""
        assert self.answered_at is not None
        return tariff.block_start(self.answered_at, n) + timedelta(milliseconds=tariff.grace_ms)

    def next_block(self, tariff: Tariff) -> int | None:
        """Return the first block within the grant that is not charged yet, or None."""
        for n in range(self.granted_blocks(tariff)):
            if n not in self.charged_blocks:
                return n
        return None

    def blocks_due(self, tariff: Tariff, at: datetime) -> list[int]:
        """List the uncharged blocks within the grant that have started by ``at``."""
        if self.answered_at is None:
            return []
        due: list[int] = []
        for n in range(self.granted_blocks(tariff)):
            if self.charge_moment(tariff, n) > at:
                break
            if n not in self.charged_blocks:
                due.append(n)
        return due

    def blocks_for_end(self, tariff: Tariff, hangup_at: datetime) -> list[int]:
        """List the uncharged blocks that started before the metered end (the hangup catch-up)."""
        count = min(tariff.block_count(self.metered_ms(hangup_at)), self.granted_blocks(tariff))
        return [n for n in range(count) if n not in self.charged_blocks]

    def cutoff_at(self, slack_seconds: float) -> datetime | None:
        """Return when callmeter cuts the call if it is still up, or None before the answer."""
        if self.answered_at is None:
            return None
        return self.answered_at + timedelta(milliseconds=self.limit_ms, seconds=slack_seconds)
