"""Admission: the FastAGI server that decides, before the line is answered, whether a call may pass.

``evaluate`` decides without writing anything (for the CLI and the staff
API); ``FastAgiServer`` serves Asterisk, records the call and reserves the
grant.
"""

from callmeter.admission.server import FastAgiServer
from callmeter.admission.service import Admission, CallRequest, abandon, admit
from callmeter.admission.verdicts import VERDICTS, Decision, Presentation, Verdict, evaluate

__all__ = [
    "VERDICTS",
    "Admission",
    "CallRequest",
    "Decision",
    "FastAgiServer",
    "Presentation",
    "Verdict",
    "abandon",
    "admit",
    "evaluate",
]
