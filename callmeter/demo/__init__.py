"""The demo: a scripted day on the helpdesk line, metered by the real service."""
