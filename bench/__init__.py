"""Benchmarks of callmeter and of the Python AMI libraries it is compared with.

``python -m bench`` (or ``make bench``) runs them all and writes
``bench/RESULTS.md``; ``bench/README.md`` says what each one measures.
"""
