"""The static HTML report, built from the store alone."""
