"""The county web service (``station serve``): docs/station.md."""
