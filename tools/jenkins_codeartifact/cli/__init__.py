"""Thin command-line front ends: parse arguments, call the library, map errors to exit codes."""
