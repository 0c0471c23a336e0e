"""Ledgers against the plan: who sent what, and a light per unit and task.
"""
