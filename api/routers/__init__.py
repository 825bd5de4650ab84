"""The routers of the staff API, one per domain noun."""
