"""Composition: the one place that builds parts from configuration; the CLIs and the agent."""
