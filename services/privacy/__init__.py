"""Personal data on the log: sealed per data subject, opened for those who may read it, erased
by destroying keys (crypto-shredding). See docs/privacy.md."""
