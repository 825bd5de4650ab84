"""Customers with their helpdesk IDs, and the phone numbers they call from."""
