"""The casetrail command line."""
