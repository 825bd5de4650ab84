"""The overview follows a real call placed through the simulated PBX and FastAGI admission.

This runs when the admission server and the simulated PBX are both in the
tree. The line is configured open all day, so the call is admitted at any
hour the test runs.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from callmeter.db import Database
from callmeter.settings import WEEKDAYS, FastAgiSettings, Settings
from tests.web.conftest import (
    CHROMIUM,
    Served,
    clean_settings,
    seeded_database,
    serving,
    skip_or_fail_without_browser,
)
from tests.web.test_browser import CHROMIUM_ARGS, LIVE_TIMEOUT_MS, open_page, screenshot

# Imported through importorskip, so that this module skips cleanly in a tree
# without admission or the simulator, instead of failing at collection.
NEEDS_PBX = "needs the FastAGI admission server and the simulated PBX"
admission_server = pytest.importorskip("callmeter.admission.server", reason=NEEDS_PBX)
simulator_admit = pytest.importorskip("callmeter.simulator.admit", reason=NEEDS_PBX)
simulator_ami = pytest.importorskip("callmeter.simulator.ami_server", reason=NEEDS_PBX)
simulator_calls = pytest.importorskip("callmeter.simulator.calls", reason=NEEDS_PBX)
simulator_clock = pytest.importorskip("callmeter.simulator.clock", reason=NEEDS_PBX)
simulator_pbx = pytest.importorskip("callmeter.simulator.pbx", reason=NEEDS_PBX)

pytestmark = pytest.mark.browser

ALL_DAY = {day: {"zone1": ["00:00-24:00"]} for day in WEEKDAYS}
# Hang guard for starting and stopping the PBX side; it normally takes milliseconds.
PBX_TIMEOUT_SECONDS = 15


@pytest.fixture(scope="module")
def open_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Settings]]:
    skip_or_fail_without_browser()
    directory = tmp_path_factory.mktemp("web-pbx")
    database, write_token, read_token = seeded_database(directory)
    settings = clean_settings(
        directory,
        database_url=database.url,
        zones=ALL_DAY,
        holiday_policy="weekday",
        fastagi=FastAgiSettings(host="127.0.0.1", port=0),
    )
    with serving(settings, database) as url:
        yield Served(url, database, write_token, read_token), settings
    database.dispose()


@pytest.fixture(scope="module")
def browser(open_line: tuple[Served, Settings]) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        yield launched
        launched.close()


class PbxThread:
    """Admission and the simulated PBX on their own event loop in a background thread."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web-test-pbx", daemon=True)

    def __enter__(self) -> PbxThread:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        """Hang up whatever still runs, let the servers stop cleanly, then end the loop."""
        asyncio.run_coroutine_threadsafe(self._cancel_all(), self.loop).result(timeout=PBX_TIMEOUT_SECONDS)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=PBX_TIMEOUT_SECONDS)
        self.loop.close()

    @staticmethod
    async def _cancel_all() -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=PBX_TIMEOUT_SECONDS)

    def place_call(self, spec: Any) -> Future[Any]:
        """Start one call at real speed; the future completes when it has ended."""
        return asyncio.run_coroutine_threadsafe(self._call(spec), self.loop)

    async def _call(self, spec: Any) -> Any:
        async with admission_server.FastAgiServer(self.settings, self.database) as admission:
            assert admission.port is not None
            clock = simulator_clock.VirtualClock(speed=1.0)
            async with simulator_ami.AmiServer(secret="web-test", clock=clock) as ami:
                admitter = simulator_admit.fastagi_admitter("127.0.0.1", admission.port)
                pbx = simulator_pbx.SimulatedPbx(ami, admitter)
                return await simulator_calls.CallRun(pbx, spec).run()


def test_overview_shows_call_placed_through_pbx(browser: Browser, open_line: tuple[Served, Settings]) -> None:
    served, settings = open_line
    page = open_page(browser, served, served.write_token)
    page.evaluate("window.notReloaded = true")

    with PbxThread(settings, served.database) as pbx:
        # The agent answers after 1 s and talks for 60 s; leaving the with-block ends the call earlier.
        spec = simulator_calls.CallSpec("06-12345678", "Jan Jansen", answer_seconds=1.0, talk_seconds=60.0)
        call = pbx.place_call(spec)
        row = page.locator("#active-calls tbody tr").filter(has_text="HD-1001")
        expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(row.locator(".left")).to_have_text(re.compile(r"^\d+:\d\d(:\d\d)?$"))
        screenshot(page, "overview-pbx-call")
        assert not call.done()

    assert page.evaluate("window.notReloaded") is True
    page.context.close()
