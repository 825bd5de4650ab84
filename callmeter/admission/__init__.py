"""Admission: the FastAGI server that decides, before the line is answered, whether a call may pass."""
