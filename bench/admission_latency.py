"""Admission latency (being written)."""
from bench.common import Options, Section


def run(options: Options) -> Section:
    return Section(key="admission", title="Admission latency")
