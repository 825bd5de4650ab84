"""Look up documented setting keys such as `fastagi.allowed_peers` in the Settings model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from callmeter.settings import Settings

# Example values for the placeholders in documented keys such as rates.<plan>.zone1.
PLACEHOLDERS = {"<plan>": "prepaid", "<weekday>": "monday", "<weekdag>": "monday"}


def setting_exists(key: str) -> bool:
    """Return whether a dotted key names a field of Settings, placeholders filled in."""
    for placeholder, example in PLACEHOLDERS.items():
        key = key.replace(placeholder, example)
    value: Any = Settings()
    for part in key.split("."):
        if isinstance(value, BaseModel):
            if part not in type(value).model_fields:
                return False
            value = getattr(value, part)
        elif isinstance(value, dict):
            if part not in value:
                return False
            value = value[part]
        else:
            return False
    return True
