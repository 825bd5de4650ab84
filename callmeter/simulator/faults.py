"""Scheduled faults of the simulated PBX, for exercising the AMI client's recovery.

A fault is written ``KIND@SECONDS`` or ``KIND@SECONDS+DURATION``, in real
seconds from the start of the run:

- ``drop@30``: close every AMI connection, as a network failure does;
- ``reject@30+20``: answer every Login with ``Authentication failed`` for 20 s;
- ``silent@30+10``: stop responding to actions and sending events for 10 s;
- ``restart@30+5``: send ``Shutdown``, close every connection and stop
  listening for 5 s, as an Asterisk restart does.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

import structlog

from callmeter import i18n
from callmeter.errors import InvalidInput
from callmeter.simulator.ami_server import AmiServer

log = structlog.get_logger(__name__)

FaultKind = Literal["drop", "reject", "silent", "restart"]
KINDS: tuple[FaultKind, ...] = ("drop", "reject", "silent", "restart")
DEFAULT_DURATION_SECONDS = 5.0
MAX_SECONDS = 24 * 3600.0

_FAULT = re.compile(r"^(?P<kind>[a-z]+)@(?P<at>\d+(?:\.\d+)?)(?:\+(?P<duration>\d+(?:\.\d+)?))?$")

i18n.register(
    {
        "error.fault_invalid": {
            "nl": (
                "Ongeldige storing {value!r}: schrijf SOORT@SECONDEN of SOORT@SECONDEN+DUUR, "
                "met SOORT drop, reject, silent of restart (bijvoorbeeld silent@30+10)."
            ),
            "en": (
                "Invalid fault {value!r}: write KIND@SECONDS or KIND@SECONDS+DURATION, "
                "with KIND drop, reject, silent or restart (for example silent@30+10)."
            ),
        },
    }
)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    at_seconds: float
    duration_seconds: float = DEFAULT_DURATION_SECONDS


def parse_fault(value: str) -> Fault:
    """Parse ``KIND@SECONDS[+DURATION]``; raise InvalidInput with the accepted form."""
    match = _FAULT.match(value.strip().lower())
    if match is None or match["kind"] not in KINDS:
        raise InvalidInput("error.fault_invalid", value=value)
    at_seconds = float(match["at"])
    duration = float(match["duration"]) if match["duration"] else DEFAULT_DURATION_SECONDS
    if at_seconds > MAX_SECONDS or duration > MAX_SECONDS:
        raise InvalidInput("error.fault_invalid", value=value)
    kind = next(kind for kind in KINDS if kind == match["kind"])
    return Fault(kind, at_seconds, duration)


async def run_faults(server: AmiServer, faults: list[Fault]) -> None:
    """Apply each fault at its time; return when the last one is over."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.TaskGroup() as group:
        for fault in sorted(faults, key=lambda item: item.at_seconds):
            delay = started + fault.at_seconds - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            group.create_task(_apply(server, fault))


async def _apply(server: AmiServer, fault: Fault) -> None:
    log.info("simulator.fault", kind=fault.kind, duration_seconds=fault.duration_seconds)
    if fault.kind == "drop":
        await server.drop_connections()
    elif fault.kind == "reject":
        server.reject_logins(fault.duration_seconds)
    elif fault.kind == "silent":
        server.set_silent(True)
        try:
            await asyncio.sleep(fault.duration_seconds)
        finally:
            server.set_silent(False)
    else:
        await server.restart(down_seconds=fault.duration_seconds)
