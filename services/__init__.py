"""CaseTrail's services: gateway, decider, projector, query, and the casetrail command."""
