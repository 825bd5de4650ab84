"""A simulated PBX: the Asterisk side of FastAGI and AMI, for tests, the demo and benchmarks."""
