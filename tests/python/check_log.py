"""The pass/fail log of the Python agreement tests: one line per check
("ok" or "FAIL", its name, a detail such as the worst error), the failed
names kept for the exit status.

Usage: checks = Checks(); checks.check("logits agree", err < 1e-4, "max err %.2e" % err)
       sys.exit(1 if checks.failed else 0)"""


class Checks:
    def __init__(self):
        self.failed = []
        self.count = 0

    def check(self, name, ok, detail=""):
        self.count += 1
        print("%-4s %-66s %s" % ("ok" if ok else "FAIL", name, detail), flush=True)
        if not ok:
            self.failed.append(name)

    def within(self, name, err, tol=1e-4):
        """A check that a worst error `err` is at most `tol` (default: the suites' 1e-4)."""
        self.check(name, err <= tol, "max err %.2e (tolerance %.0e)" % (err, tol))
