"""The `*_child.py` scripts run in processes of their own, started by the tests with arguments; they are
not test modules (`--doctest-modules` would import them, and run them, without those arguments)."""

collect_ignore_glob = ["*_child.py"]
