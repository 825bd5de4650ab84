"""Simulated channels and bridges, and the AMI headers Asterisk builds from them.

Header names and their order follow what Asterisk (upstream master)
sends, as recorded for the helpdesk line: channel snapshots in channel
events, ``Dest``-prefixed snapshots in dial events, bridge snapshots in
bridge events, and list items for ``CoreShowChannels`` and ``Status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

Headers = list[tuple[str, str]]

STATE_DOWN = 0
STATE_RING = 4
STATE_RINGING = 5
STATE_UP = 6
STATE_NAMES = {STATE_DOWN: "Down", STATE_RING: "Ring", STATE_RINGING: "Ringing", STATE_UP: "Up"}

# Q.850 hangup causes used by the simulator, with the text Asterisk sends.
CAUSE_NOT_DEFINED = 0
CAUSE_NORMAL_CLEARING = 16
CAUSE_TEXTS = {CAUSE_NOT_DEFINED: "Unknown", CAUSE_NORMAL_CLEARING: "Normal Clearing"}


@dataclass
class SimChannel:
    """One live channel: the state that Asterisk puts in a channel snapshot."""

    name: str
    uniqueid: str
    linkedid: str
    created_at: float
    device: str
    state: int = STATE_DOWN
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    language: str = "en"
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    application_data: str = ""
    answered_at: float | None = None
    bridge_id: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def technology(self) -> str:
        return self.name.partition("/")[0]

    def snapshot(self, prefix: str = "") -> Headers:
        """Return the channel snapshot headers, each name prefixed (``Dest``, ``LocalOne``)."""
        pairs = [
            ("Channel", self.name),
            ("ChannelState", str(self.state)),
            ("ChannelStateDesc", STATE_NAMES.get(self.state, "Unknown")),
            ("CallerIDNum", self.caller_num),
            ("CallerIDName", self.caller_name),
            ("ConnectedLineNum", self.connected_num),
            ("ConnectedLineName", self.connected_name),
            ("Language", self.language),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Uniqueid", self.uniqueid),
            ("Linkedid", self.linkedid),
        ]
        return [(prefix + name, value) for name, value in pairs]

    def core_show_channel(self, action_id: str, now: float) -> Headers:
        """Return one ``CoreShowChannel`` list item."""
        return [
            ("Event", "CoreShowChannel"),
            ("ActionID", action_id),
            *self.snapshot(),
            ("Application", self.application),
            ("ApplicationData", self.application_data),
            ("Duration", _hms(now - self.created_at)),
            ("BridgeId", self.bridge_id),
        ]

    def status_item(self, action_id: str, now: float) -> Headers:
        """Return one ``Status`` list item."""
        return [
            ("Event", "Status"),
            ("Privilege", "Call"),
            *self.snapshot(),
            ("Type", self.technology),
            ("DNID", ""),
            ("EffectiveConnectedLineNum", self.connected_num),
            ("EffectiveConnectedLineName", self.connected_name),
            ("TimeToHangup", "0"),
            ("BridgeID", self.bridge_id),
            ("Application", self.application),
            ("Data", self.application_data),
            ("Nativeformats", "(slin)"),
            ("Readformat", "slin"),
            ("Readtrans", ""),
            ("Writeformat", "slin"),
            ("Writetrans", ""),
            ("Callgroup", "0"),
            ("Pickupgroup", "0"),
            ("Seconds", str(int(now - self.created_at))),
            ("ActionID", action_id),
        ]

    def cdr(self, now: float, destination_channel: str = "", disposition: str | None = None) -> Headers:
        """Return the headers of the ``Cdr`` event written when this channel ends.

        Like Asterisk's cdr_manager, times are server-local without a zone and
        ``BillableSeconds`` counts from the channel's answer.
        """
        answered = self.answered_at
        if disposition is None:
            disposition = "ANSWERED" if answered is not None else "NO ANSWER"
        billable = int(now - answered) if answered is not None else 0
        caller_id = f'"{self.caller_name}" <{self.caller_num}>'
        return [
            ("AccountCode", ""),
            ("Source", self.caller_num),
            ("Destination", self.exten),
            ("DestinationContext", self.context),
            ("CallerID", caller_id),
            ("Channel", self.name),
            ("DestinationChannel", destination_channel),
            ("LastApplication", self.application),
            ("LastData", self.application_data),
            ("StartTime", _local(self.created_at)),
            ("AnswerTime", _local(answered) if answered is not None else ""),
            ("EndTime", _local(now)),
            ("Duration", str(int(now - self.created_at))),
            ("BillableSeconds", str(billable)),
            ("Disposition", disposition),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", self.uniqueid),
            ("UserField", ""),
        ]


@dataclass
class SimBridge:
    """A basic two-party bridge."""

    uniqueid: str
    channels: list[str] = field(default_factory=list)

    def snapshot(self) -> Headers:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", "none"),
        ]


def calling_pres_text(callingpres: int) -> str:
    """Return the ``CID-CallingPres`` value, for example ``0 (Presentation Allowed, Not Screened)``."""
    if callingpres & 0x60 == 0x40:
        return f"{callingpres} (Number Unavailable)"
    allowed = "Presentation Allowed" if callingpres & 0x60 == 0 else "Presentation Prohibited"
    screening = ("Not Screened", "Passed Screen", "Failed Screen", "Network Number")[callingpres & 0x03]
    return f"{callingpres} ({allowed}, {screening})"


def _hms(seconds: float) -> str:
    whole = max(int(seconds), 0)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _local(epoch: float) -> str:
    # cdr_manager writes server-local wall-clock time without a zone.
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
