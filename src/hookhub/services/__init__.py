"""Domain rules. Knows nothing about HTTP; raises the typed errors of `errors`."""
