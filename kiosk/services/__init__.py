"""Services: issuance, rapid tests, holds, alarms, producers, staff."""
