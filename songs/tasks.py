"""Django-Q2 entry points of the songs app: plain values in, the pipeline runner out."""

from songs.pipeline import runner


def run_job(job_id: str, cluster: str) -> None:
    """Run (the part on `cluster` of) the pipeline job `job_id`: settings.JOBS_TASK."""
    runner.run_job(job_id=job_id, cluster=cluster)
