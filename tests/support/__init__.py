"""What the test suites share, imported as `support.<module>` (tests/ is on
pytest's `pythonpath`, see pyproject.toml):

* paths: the repository's folders (REPO, TESTS, SCRIPTS, ...).
* scripts: import a module of scripts/ by name (they are not a package).
* server: wait on the local server's stats (settled, or a condition met).
* transforms: picklable transforms and collates for datasets and DataLoaders.
* interop: what the server's interoperability tests share (CRC-64, SDK clients).
* native_exercise: every native-layer call once, in a process or a child.
* fault_matrix: the fault matrix (one module per fault in cases/, one
  runner, the table, the secret scan) that tests/faults/test_faults.py drives.

Scripts run as their own process by a test (given arguments on the command
line, see each one's docstring): ckpt_rss.py, dcp_worker.py, fork_trials.py.
Fixtures every suite may use are in tests/conftest.py.
"""
