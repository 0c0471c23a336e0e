"""The lending and guarantee indicators, and their targets and status.
"""
