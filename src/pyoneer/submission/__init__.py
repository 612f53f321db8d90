"""Runs that outlive the machine they were started from: ``pyoneer submit`` and after.

A submitted run's manager runs on a Ray cluster as a Ray job (``driver``), in a
directory of the project's own there; it tells everything it does as one stream of
numbered lines (``stream``, written by ``broadcast``) on the job's output. The user's
machine reads that stream through Ray's job server and keeps a mirror of the run in
its own ledger and logs (``mirror``); ``remote`` holds what the commands do.
"""
