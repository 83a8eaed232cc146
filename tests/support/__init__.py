"""Test helpers shared by test modules (real brokers, decoders, fixtures)."""
