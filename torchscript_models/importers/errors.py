"""The exception every refused input raises: its text is the one line the
command prints (it names the file or key and what was expected)."""


class CheckpointError(Exception):
    pass
