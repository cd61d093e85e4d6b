"""The CaseTrail contract: events, submissions, outcomes and the case lifecycles.

Nothing in this package performs I/O; every service and projection shares these definitions.
"""
