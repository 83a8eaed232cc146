"""Attacks on real parts (issue 11), one test per attack; docs/security.md lists them."""
