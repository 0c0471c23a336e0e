"""Taizhang helpers: all the logic behind the notebooks.

Stages, one module each: `plan` (the plan as data), `sources` (reading raw files), `ledgers` and `tables`
(cleaning ledgers), `reconcile` (lights against the plan), `lending` and `guarantee` (indicators), `report`
(presentation), `catalog` (processed tables), `pipeline` (what a notebook calls), `cli` (`taizhang`).
"""
