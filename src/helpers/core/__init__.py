"""Values and rules every stage uses: cell values, identifiers, deadlines, cycles, findings, digests.
"""
