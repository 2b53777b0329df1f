"""The team's own checks without Python: HTTP, SQL, Redis, host and metric expectations in YAML.

``model.py`` reads and validates the file (``--deploycheck-expectations``), ``readonly.py`` and
``jsonpath.py`` are the guards and the JSON path reader it uses, ``probes.py`` runs one expectation
against one target and judges the answer, ``collect.py`` makes each (expectation, target) a test item.
"""
