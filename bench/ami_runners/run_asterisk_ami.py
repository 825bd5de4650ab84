"""Count events with asterisk-ami, used as its documentation shows.

Usage: python run_asterisk_ami.py HOST PORT DEADLINE_SECONDS
"""

import json
import os
import resource
import sys
import threading
import time
from importlib.metadata import version

from asterisk.ami import AMIClient


def main() -> None:
    host, port, deadline = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    result = {"library": "asterisk-ami", "version": version("asterisk-ami"), "events": 0, "finished": False}
    cpu_started = time.process_time()
    try:
        _count(host, port, deadline, result)
    except Exception as error:  # report every failure as data, for the results page
        result["error"] = f"{type(error).__name__}: {error}"
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result), flush=True)
    # Exit at once: AMIClient.disconnect() waits up to its 3 s socket
    # timeout for the reader thread, which is not part of the measurement.
    os._exit(0)


def _count(host: str, port: int, deadline: float, result: dict) -> None:
    done = threading.Event()
    state = {"count": 0, "first": 0.0, "last": 0.0, "calls": {}}

    # The handler does what a metering handler does at the least: read the
    # event name and the Uniqueid, and look the call up.
    def on_event(event: object, **_kwargs: object) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        name = event.name
        state["calls"].get(event.keys.get("Uniqueid"))
        if name == "UserEvent" and event.keys.get("UserEvent") == "BenchmarkEnd":
            state["last"] = time.perf_counter()
            done.set()

    client = AMIClient(address=host, port=port)
    future = client.login(username="bench", secret="bench")
    if future.response is None or future.response.is_error():
        raise RuntimeError(f"login failed: {future.response}")
    client.add_event_listener(on_event)
    result["finished"] = done.wait(deadline)
    finished_at = state["last"] if result["finished"] else time.perf_counter()
    result["events"] = state["count"]
    result["seconds"] = finished_at - state["first"] if state["count"] else 0.0


if __name__ == "__main__":
    main()
