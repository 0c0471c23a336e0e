"""The deterministic demo ledgers (`taizhang demo`, `make demo`): a year of messy workbooks as units
send them, written from a plan. Not part of the runtime helpers.
"""
