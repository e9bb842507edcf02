"""The Python tests and their helpers (references, checkpoint makers, the
pass/fail log), importable as `tests.python.<module>` with the repository
root on the path: ctest sets PYTHONPATH to it (tests/CMakeLists.txt), and a
test run by hand takes `PYTHONPATH=. /usr/bin/python3 tests/python/test_x.py`
or `/usr/bin/python3 -m tests.python.test_x` from the root."""
