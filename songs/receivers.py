"""The songs app's answers to the signals of the layer below it (jobs)."""

from jobs.signals import job_finished
from songs import services


def _job_finished(sender, *, job, **kwargs) -> None:
    services.song_job_finished(job=job)


def connect() -> None:
    job_finished.connect(_job_finished, dispatch_uid="songs.job_finished")
