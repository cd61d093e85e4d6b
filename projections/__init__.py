"""Read models built from the log, and the runtime that keeps them exact."""
