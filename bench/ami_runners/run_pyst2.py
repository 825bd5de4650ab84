"""Count events with pyst2's manager, used as its documentation shows.

Usage: python run_pyst2.py HOST PORT DEADLINE_SECONDS STALL_SECONDS
"""

import json
import os
import resource
import socket
import sys
import threading
import time
from importlib.metadata import version

from asterisk.manager import Manager

thread_errors: list[str] = []


def _record_thread_error(arguments: threading.ExceptHookArgs) -> None:
    thread_errors.append(
        f"{arguments.exc_type.__name__}: {arguments.exc_value} (thread {arguments.thread.name})"
    )


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    deadline, stall = float(sys.argv[3]), float(sys.argv[4])
    threading.excepthook = _record_thread_error
    result = {"library": "pyst2", "version": version("pyst2"), "events": 0, "finished": False}
    cpu_started = time.process_time()
    try:
        _count(host, port, deadline, stall, result)
    except Exception as error:  # report every failure as data, for the results page
        result["error"] = f"{type(error).__name__}: {error}"
    result["thread_errors"] = thread_errors
    result["cpu_seconds"] = time.process_time() - cpu_started
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result), flush=True)
    # Exit without running Manager.__del__: it logs off and waits for an
    # answer without a timeout, which never comes once its threads are gone.
    os._exit(0)


def _count(host: str, port: int, deadline: float, stall: float, result: dict) -> None:
    done = threading.Event()
    state = {"count": 0, "first": 0.0, "last": 0.0, "calls": {}}

    # The handler does what a metering handler does at the least: read the
    # event name and the Uniqueid, and look the call up.
    def on_event(event: object, _manager: object) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        name = event.name
        state["calls"].get(event.get_header("Uniqueid"))
        if name == "UserEvent" and event.get_header("UserEvent") == "BenchmarkEnd":
            state["last"] = time.perf_counter()
            done.set()

    manager = Manager()
    manager.connect(host, port)
    manager.register_event("*", on_event)
    manager.login("bench", "bench")

    result["finished"], result["stalled"] = _wait(done, state, deadline, stall)
    finished_at = state["last"] if result["finished"] else time.perf_counter()
    result["events"] = state["count"]
    result["seconds"] = finished_at - state["first"] if state["count"] else 0.0
    if result["stalled"]:
        # Shutting the socket down ends the reader thread. A message thread
        # that failed waits for the reader before its exception surfaces.
        manager._sock._sock.shutdown(socket.SHUT_RDWR)
        manager.message_thread.join(5)


def _wait(done: threading.Event, state: dict, deadline: float, stall: float) -> tuple[bool, bool]:
    """Wait for the end marker; return (finished, stalled)."""
    give_up = time.monotonic() + deadline
    seen, seen_at = -1, time.monotonic()
    while not done.wait(0.5):
        now = time.monotonic()
        if state["count"] != seen:
            seen, seen_at = state["count"], now
        elif now - seen_at > stall:
            return False, True
        if now > give_up:
            return False, False
    return True, False


if __name__ == "__main__":
    main()
