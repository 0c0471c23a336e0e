"""What people read, built in memory: HTML sections and charts of the report, the consolidated
workbook, unit pages, next cycle's templates. Nothing here writes a file.
"""
