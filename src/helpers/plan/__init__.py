"""The plan as data: units, tasks, milestones, targets (data/plan/*.yaml).
"""
