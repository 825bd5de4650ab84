"""Measuring clients, one per AMI library, each run as its own process.

The third-party runners import nothing from callmeter or bench, because
they run with the Python of the library's own virtual environment under
``bench/.venvs/``. Each prints one JSON line: events handled, seconds from
the first event to the end marker, CPU seconds, peak RSS and the library
version.
"""
