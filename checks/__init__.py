"""The check catalog: one module per checklist section (``test_<section>.py``).

This folder is a package so that pytest names its modules ``checks.test_tls`` here and
``pytest_deploycheck.checks.test_tls`` in an installed wheel (which carries this folder under that
name): never a bare ``test_tls`` that could clash with a team's own test module.
"""
