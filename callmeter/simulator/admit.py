"""How the simulated PBX runs admission for each call, before it routes it.

The real dialplan runs ``AGI(agi://callmeter:4573/admit)`` and routes the
call on ``CALLMETER_VERDICT``. :func:`fastagi_admitter` does the same over
a real FastAGI socket. :func:`fixed_admitter` decides in-process, for a
simulator run without an admission server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from callmeter.simulator.agi_client import agi_environment, run_agi_session

log = structlog.get_logger(__name__)

ADMITTED = "admitted"


@dataclass(frozen=True)
class AdmissionRequest:
    """The inbound channel's caller data when it reaches ``AGI()``."""

    uniqueid: str
    channel: str
    callerid: str  # agi_callerid; empty when the caller sent no number
    calleridname: str
    callingpres: int
    linkedid: str
    num_pres: str  # what CALLERID(num-pres) reads on the channel


@dataclass(frozen=True)
class Admission:
    """The channel variables admission set, or why it failed."""

    variables: dict[str, str]
    hung_up: bool = False
    error: str | None = None

    @property
    def verdict(self) -> str | None:
        return self.variables.get("CALLMETER_VERDICT")

    @property
    def admitted(self) -> bool:
        return self.verdict == ADMITTED

    @property
    def limit_ms(self) -> int | None:
        """Return ``CALLMETER_LIMIT_MS``, or None when absent or not a positive number."""
        text = self.variables.get("CALLMETER_LIMIT_MS", "")
        return int(text) if text.isdigit() and int(text) > 0 else None


Admitter = Callable[[AdmissionRequest], Awaitable[Admission]]


def fastagi_admitter(host: str, port: int, timeout_seconds: float = 5.0) -> Admitter:
    """Return an admitter that runs one FastAGI session per call against ``host:port``.

    A failed session gives an Admission without a verdict, so the call is
    refused, as the dialplan refuses when ``AGISTATUS`` is not ``SUCCESS``.
    """

    async def admit(request: AdmissionRequest) -> Admission:
        environment = agi_environment(
            uniqueid=request.uniqueid,
            channel=request.channel,
            callerid=request.callerid,
            calleridname=request.calleridname,
            callingpres=request.callingpres,
            linkedid=request.linkedid,
            request_host=host,
            request_port=port,
        )
        try:
            result = await run_agi_session(
                host, port, environment, {"CALLERID(num-pres)": request.num_pres}, timeout=timeout_seconds
            )
        except (OSError, TimeoutError) as error:
            log.warning("simulator.agi_failed", uniqueid=request.uniqueid, error=str(error) or type(error).__name__)
            return Admission({}, error=str(error) or type(error).__name__)
        return Admission(result.variables, hung_up=result.hung_up)

    return admit


def fixed_admitter(verdict: str = ADMITTED, limit_ms: int | None = None) -> Admitter:
    """Return an admitter that gives every call the same verdict, without a server."""

    async def admit(request: AdmissionRequest) -> Admission:
        variables = {"CALLMETER_VERDICT": verdict}
        if limit_ms is not None and verdict == ADMITTED:
            variables["CALLMETER_LIMIT_MS"] = str(limit_ms)
        return Admission(variables)

    return admit
