"""Prometheus metrics of one callmeter process.

The collectors live in their own registry so that tests and several apps in
one process never clash with the default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ADMISSIONS = Counter(
    "callmeter_admissions", "FastAGI admissions by verdict.", ["verdict"], registry=REGISTRY
)
ACTIVE_CALLS = Gauge("callmeter_active_calls", "Admitted calls not yet ended.", registry=REGISTRY)
BLOCKS_CHARGED = Counter("callmeter_blocks_charged", "Blocks charged, all plans.", ["plan"], registry=REGISTRY)
CENTS_CHARGED = Counter("callmeter_cents_charged", "Cents charged, all plans.", ["plan"], registry=REGISTRY)
AMI_RECONNECTS = Counter("callmeter_ami_reconnects", "AMI connection attempts after a loss.", registry=REGISTRY)
AMI_FRAMES_READ = Counter("callmeter_ami_frames_read", "Whole AMI frames read, all links.", registry=REGISTRY)
AMI_EVENTS_SKIPPED = Counter(
    "callmeter_ami_events_skipped", "AMI events skipped unparsed because the meter does not use them.",
    registry=REGISTRY,
)
AMI_CONNECTED = Gauge("callmeter_ami_connected", "1 while the AMI link is logged in.", registry=REGISTRY)
EVENT_LAG = Histogram(
    "callmeter_ami_event_lag_seconds",
    "Time from an event's Timestamp to the end of its handling.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
OPEN_RESERVATIONS = Gauge(
    "callmeter_open_reservations", "Prepaid reservations not yet released.", registry=REGISTRY
)
CUTOFFS = Counter("callmeter_cutoffs", "Calls ended by callmeter because the grant was spent.", registry=REGISTRY)
