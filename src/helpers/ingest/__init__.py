"""Reading what units send: the only stage that opens raw files. Workbooks of every format behind
`sources.read_workbook`, typed tables out of messy sheets, and which ledger and unit each is.
"""
