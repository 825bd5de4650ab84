"""Live state of the long-running components, read by /health and the web page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

LinkState = Literal["disabled", "connecting", "connected", "down"]
ServerState = Literal["disabled", "listening", "stopped"]


@dataclass
class ServiceStatus:
    """Mutable status that the AMI client and the FastAGI server update in place."""

    ami: LinkState = "disabled"
    ami_since: datetime | None = None
    ami_last_error: str | None = None
    fastagi: ServerState = "disabled"
    fastagi_address: str | None = None
    details: dict[str, str] = field(default_factory=dict)
