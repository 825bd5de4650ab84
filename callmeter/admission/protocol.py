"""The FastAGI wire format, shared by the admission server and the simulated PBX.

A FastAGI session is line based. Asterisk connects, sends its ``agi_*``
environment as ``name: value`` lines ending with an empty line, and then
replies to each command line of the server with one result line such as
``200 result=1 (value)``. The server ends the session by closing the socket.
"""

from __future__ import annotations

from dataclasses import dataclass

# Result lines as current Asterisk writes them (res/res_agi.c).
RESULT_OK = "200 result=1"
RESULT_ZERO = "200 result=0"
RESULT_UNKNOWN_COMMAND = "510 Invalid or unknown command"
RESULT_DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
HANGUP_LINE = "HANGUP"


def quote_argument(value: str) -> str:
    """Quote one command argument so Asterisk reads it back unchanged.

    Asterisk splits command lines on spaces, groups text in double quotes and
    reads a backslash as "take the next character literally".
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def split_arguments(line: str) -> list[str]:
    """Split a command line into its words the way Asterisk's AGI parser does."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quoted = False
    escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
            in_word = True
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            in_word = True
        elif char in " \t" and not quoted:
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(char)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


@dataclass(frozen=True, slots=True)
class AgiResult:
    """One parsed result line: ``200 result=1 (allowed)`` has code 200, result "1", data "allowed"."""

    code: int
    result: str | None
    data: str | None
    raw: str

    @property
    def is_dead_channel(self) -> bool:
        return self.code == 511


def parse_result(line: str) -> AgiResult | None:
    """Parse a result line, or return None when it is not one (``HANGUP`` or garbage)."""
    text = line.rstrip("\r\n")
    code_text, _, rest = text.partition(" ")
    if len(code_text) != 3 or not code_text.isdigit():
        return None
    result: str | None = None
    data: str | None = None
    if rest.startswith("result="):
        value, _, tail = rest.removeprefix("result=").partition(" ")
        result = value
        tail = tail.strip()
        if tail.startswith("(") and ")" in tail:
            data = tail[1 : tail.rindex(")")]
    return AgiResult(code=int(code_text), result=result, data=data, raw=text)
