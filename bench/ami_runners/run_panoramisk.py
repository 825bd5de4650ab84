"""Count events with panoramisk, used as its documentation shows.

Usage: python run_panoramisk.py HOST PORT DEADLINE_SECONDS
"""

import asyncio
import json
import resource
import sys
import time
from importlib.metadata import version

from panoramisk import Manager


def main() -> None:
    host, port, deadline = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    result = {"library": "panoramisk", "version": version("panoramisk"), "events": 0, "finished": False}
    cpu_started = time.process_time()
    try:
        asyncio.run(_count(host, port, deadline, result))
    except Exception as error:  # report every failure as data, for the results page
        result["error"] = f"{type(error).__name__}: {error}"
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result), flush=True)


async def _count(host: str, port: int, deadline: float, result: dict) -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    state = {"count": 0, "first": 0.0, "calls": {}}

    manager = Manager(loop=loop, host=host, port=port, username="bench", secret="bench", ping_delay=3600)

    # The handler does what a metering handler does at the least: read the
    # event name and the Uniqueid, and look the call up.
    def on_event(_manager: Manager, message: object) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        name = message.event
        state["calls"].get(message.get("Uniqueid"))
        if name == "UserEvent" and message.get("UserEvent") == "BenchmarkEnd" and not done.done():
            done.set_result(time.perf_counter())

    manager.register_event("*", on_event)
    manager.connect()
    try:
        finished_at = await asyncio.wait_for(done, deadline)
        result["finished"] = True
    except TimeoutError:
        finished_at = time.perf_counter()
    finally:
        manager.close()
    result["events"] = state["count"]
    result["seconds"] = finished_at - state["first"] if state["count"] else 0.0


if __name__ == "__main__":
    main()
