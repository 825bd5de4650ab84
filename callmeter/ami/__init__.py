"""callmeter's own asyncio client for the Asterisk Manager Interface."""
