"""The team's own go-live checklist: read (``parse``), mapped to checks (``mapping`` file, ``matcher``),
collected as pytest items (``collect``), and judged from the checks' results (``status``)."""
