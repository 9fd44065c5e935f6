"""Operations during the migration window, as a library: what ``saqmigrate route`` (and the cockpit's
``dashboard`` command) do besides parsing options and printing.

- :mod:`saqmigrate.ops.registry`: find and load the registry ``rewrite`` generated;
- :mod:`saqmigrate.ops.routes`: where each registered task goes under a flag snapshot, and the lines
  that explain unreadable flags and canvas uses;
- :mod:`saqmigrate.ops.workers`: which live SAQ workers serve a task (the check before routing to SAQ),
  and aborting SAQ cron jobs whose schedule moved back to Celery;
- :mod:`saqmigrate.ops.drain`: what still waits per task on Celery's broker (read by
  :func:`saqmigrate.runtime.drain.celery_waiting`) and in SAQ's queues;
- :mod:`saqmigrate.ops.store`: the keys of a flag store's namespace (``route purge``).

Failures a person must act on raise :class:`saqmigrate.errors.SaqmigrateError` (one line, exit 2 in
the CLI). Like ``saqmigrate.runtime``, this package needs only the core install (no libcst, rich or
click): ``route`` works in a production image.
"""
