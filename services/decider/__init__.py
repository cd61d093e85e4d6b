"""The decider service."""
