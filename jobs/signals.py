"""What the jobs app tells the layers above it, without knowing them.

Sent by jobs/services.py with `job` (the fresh row):
- `job_finished`, inside the transaction that ends a job (completed, failed or
  cancelled). The songs app connects its own state change to it.
- `job_changed`, when a running job moves on (claimed, a progress tick, a hand-off to
  another cluster, a retry). The rooms follow the songs requested in them with it.
"""

from django.dispatch import Signal

job_finished = Signal()
job_changed = Signal()
