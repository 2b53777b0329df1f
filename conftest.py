"""Repository root: the catalog (checks/) and the plugin's own tests (tests/) share this folder.

The plugin itself is loaded through its ``pytest11`` entry point (``pip install -e .``); this
file only keeps folders that hold no tests out of collection.
"""

collect_ignore = ["bench", "scripts", "build"]
