"""Infrastructure: store and migrations, outbox and uplink, audit, backup, update, watchdog."""
