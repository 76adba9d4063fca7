"""`python -m deepatoms ...`: the same command line as the `deepatoms` script."""
from .cli import main

main()
