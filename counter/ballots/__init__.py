"""Ballot profiles and the BLT format, pure."""
