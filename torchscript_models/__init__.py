"""The explainable models (docs/contract.md) in Python: tiny_magma.py (the
shipped model), atman_attention.py (AtMan's attention, shared by every
model), lrp_rules.py (AttnLRP's rules), importers/ (published checkpoints),
and the commands import_checkpoint.py, export.py and make_test_models.py.

A package: modules import each other by package name, from the repository
root (`python3 -m torchscript_models.import_checkpoint`, or the commands run
by path, which set that root themselves)."""
