"""Smoke tests of the benchmarks: each runs at a tiny size and must produce its figures.

Nothing here times anything; speed is measured by ``make bench`` only. The
third-party AMI libraries are left out, because their environments are
fetched from PyPI.
"""

from __future__ import annotations

import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import admission_latency, ledger_api, metering_load, population
from bench.ami_feed import BANNER, END_MARKER, FeedServer, build_stream, recorded_frames
from bench.ami_ingest import Client, run_client
from bench.common import Goal, Options, Section, Series, percentile
from bench.profiling import hotspots
from bench.report import render
from callmeter.db.models import Call

QUICK = Options(runs=1, quick=True)


class TestStatistics:
    def test_percentile_uses_nearest_rank(self) -> None:
        samples = [float(value) for value in range(1, 101)]

        assert percentile(samples, 0.50) == 50.0
        assert percentile(samples, 0.99) == 99.0
        assert percentile([7.0], 0.99) == 7.0

    def test_series_formats_median_min_and_max(self) -> None:
        series = Series([3.0, 1.0, 2.0])

        assert series.format(1) == "2.0 (1.0–3.0)"
        assert Series().format() == "—"


class TestFeed:
    def test_stream_without_chanvariable_skips_those_frames(self) -> None:
        frames = recorded_frames(skip_header="ChanVariable")

        assert frames
        assert not any(b"ChanVariable: " in frame for frame in frames)
        assert len(frames) < len(recorded_frames())

    def test_feed_server_streams_every_event_after_login(self) -> None:
        stream = build_stream(3_000)
        server = FeedServer(stream, deadline_seconds=30.0)
        server.serve_once()
        received = b""
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
            connection.sendall(b"Action: Login\r\nActionID: 1\r\nUsername: u\r\nSecret: s\r\n\r\n")
            while not received.endswith(END_MARKER):
                data = connection.recv(65536)
                assert data, "the feed closed before the end marker"
                received += data
        server.join(10)
        server.close()

        assert received.startswith(BANNER + b"Response: Success\r\nActionID: 1\r\n")
        assert received.count(b"\r\n\r\nEvent: ") == stream.events
        assert server.error is None


class TestAmiIngest:
    def test_callmeter_runner_handles_every_event(self) -> None:
        stream = build_stream(3_000)
        client = Client("callmeter", [sys.executable, "-m", "bench.ami_runners.run_callmeter"], stream, 60.0)

        report = run_client(client)

        assert report.get("error") is None
        assert report["finished"] is True
        assert report["events"] == stream.events
        assert "CoreShowChannels" in report["actions"]


class TestProfiling:
    def test_hotspots_count_own_samples_per_function(self, tmp_path: Path) -> None:
        raw = tmp_path / "raw.txt"
        raw.write_text(
            "main (/app/run.py:1);parse (/app/framing.py:10) 30\n"
            "main (/app/run.py:1);lookup (/app/meter.py:5) 10\n"
            "main (/app/run.py:1);poll (/usr/lib/selectors.py:468) 60\n"
        )

        spots = hotspots(raw)

        assert [spot.function for spot in spots] == ["framing.py:parse", "meter.py:lookup"]
        assert spots[0].self_share == pytest.approx(0.75)
        assert spots[1].total_share == pytest.approx(0.25)


class TestReport:
    def test_render_lists_goals_and_sections(self) -> None:
        section = Section(
            key="x",
            title="Example",
            commands=["python -m bench --only x"],
            header=["figure"],
            rows=[["1 (1–1)"]],
            notes=["a note"],
            goals=[Goal("a goal", None, "not measured")],
        )

        text = render([section], QUICK, "python -m bench", 60.0, "1.0, 1.0, 1.0", "1.0, 1.0, 1.0")

        assert "| Example | a goal | not measured yet | not measured |" in text
        assert "## Example" in text
        assert "- a note" in text
        assert "Python: CPython" in text


class TestDatabaseBenchmarks:
    def test_ledger_charges_on_sqlite(self, tmp_path: Path) -> None:
        results = ledger_api._charges_on("sqlite", QUICK, tmp_path, threads=3)

        assert sorted(results) == [1, 3]
        for series in results.values():
            assert len(series.values) == 1
            assert series.values[0] > 0

    def test_charge_threads_match_asyncio_executor(self) -> None:
        with ThreadPoolExecutor() as pool:
            assert ledger_api.metering_threads() == pool._max_workers

    def test_charge_order_alternates_customers(self) -> None:
        calls = [Call(id=index, customer_id=index // 3) for index in range(7)]

        ordered = ledger_api._across_customers(calls)

        assert [call.id for call in ordered] == [0, 3, 6, 1, 4, 2, 5]

    def test_balance_api_answers_every_request(self) -> None:
        section = ledger_api.balance(QUICK)

        assert section.rows[0][3] == "0"
        assert section.goals[0].met is not None

    def test_admission_admits_every_session(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setattr(population, "CACHE", tmp_path / "cache")

        section = admission_latency.run(QUICK)

        assert [row[0] for row in section.rows] == ["1", "10", "100"]
        for row in section.rows:
            assert row[5].startswith("admitted"), row

    def test_metering_run_meters_every_call(self, tmp_path: Path) -> None:
        result = metering_load.one_run("sqlite", 5, 1.0, metering_load.QUICK_SPEED, tmp_path)

        assert result.admitted + len(result.not_admitted) == 5
        assert result.events > 0
        assert result.lag_ms
        assert not result.unfinished
