"""Data generators (synthetic, seeded by an explicit numpy Generator) and bundled datasets."""
