"""Test doubles: in-process stand-ins for servers the toolkit talks to."""
