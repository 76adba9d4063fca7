"""Studies built on runs: probes over a parameter and the precision check. The API runs one
atom; a study runs it several times (nothing below imports a study)."""
