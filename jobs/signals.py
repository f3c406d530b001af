"""What the jobs app tells the layers above it, without knowing them.

`job_finished` is sent by jobs/services.py inside the transaction that ends a job
(completed, failed or cancelled), with `job` (the fresh row). The songs app
connects its own state change to it (songs/apps.py).
"""

from django.dispatch import Signal

job_finished = Signal()
