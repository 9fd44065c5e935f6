"""Runtime library imported by migrated apps.

Must import without libcst, click or rich installed, and must never import the analyzer
(``saqmigrate.index``, ``classify``, ``transform`` ...).
"""
