"""`python -m deepatoms.cli`: the same as the `deepatoms` script."""
from .entry import entry

if __name__ == "__main__":
    entry()
