"""Errors of the AMI link."""

from __future__ import annotations

from callmeter import i18n
from callmeter.errors import CallmeterError

i18n.register(
    {
        "error.ami_unavailable": {
            "nl": "De AMI-verbinding met Asterisk is niet beschikbaar ({reason}); probeer het later opnieuw.",
            "en": "The AMI connection to Asterisk is not available ({reason}); try again later.",
        },
        "error.ami_timeout": {
            "nl": "Asterisk gaf binnen {seconds} s geen antwoord op AMI-actie {action}.",
            "en": "Asterisk did not answer AMI action {action} within {seconds} s.",
        },
        "error.ami_action_failed": {
            "nl": "AMI-actie {action} is mislukt: {message}.",
            "en": "AMI action {action} failed: {message}.",
        },
    }
)


class AmiError(CallmeterError):
    """Base of the AMI link's errors."""

    code = "ami_error"
    http_status = 502


class AmiUnavailable(AmiError):
    """The client is not logged in, or the link dropped while an action waited."""

    code = "ami_unavailable"
    http_status = 503


class AmiTimeout(AmiError):
    """An action got no (complete) response within its timeout."""

    code = "ami_timeout"
    http_status = 504


class AmiActionFailed(AmiError):
    """Asterisk responded with ``Response: Error`` to a list action."""

    code = "ami_action_failed"
