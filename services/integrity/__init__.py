"""The integrity of history: the pinned key ring, the only keys whose signatures count
(``keyring``), signed checkpoints of the log (``checkpoints``), verification of the log and of
the audit trail against it as a pure core (``problems``, ``log_check``, ``audit_pairing``,
``audit_check``, ``verification``) and the I/O shell that reads Kafka and PostgreSQL for it
(``shell``).
"""
