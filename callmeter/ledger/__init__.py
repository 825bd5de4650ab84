"""The prepaid ledger: top-ups, reservations, charges, releases and corrections."""
