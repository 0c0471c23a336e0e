"""Taizhang helpers: all the logic behind the notebooks, one subpackage per stage of the data flow.

core ← plan ← ingest ← reconcile ← indicators ← present ← pipeline ← cli and the notebooks: a module
imports only from its own stage and the stages before it (tests/test_architecture.py; docs/architecture.md).
"""
