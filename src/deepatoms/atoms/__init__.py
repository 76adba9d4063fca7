"""Atom modules, one package per family."""
