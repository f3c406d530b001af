import json

from django.core.management.base import BaseCommand, CommandError

from songs.errors import AdapterError
from songs.pipeline.media import separation_config


class Command(BaseCommand):
    help = "Print the separation model, device and threads, and load the model once to time it."

    def add_arguments(self, parser):
        parser.add_argument("--no-load", action="store_true", help="Do not load the model.")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, no_load, as_json, **options):
        from songs.audio import separation  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

        config = separation_config()
        if not no_load:
            try:
                separation.load_model(config)
            except AdapterError as exc:
                raise CommandError(exc.message) from None
        info = separation.model_info(config)
        if as_json:
            self.stdout.write(json.dumps(info, indent=2, default=str))
            return
        self.stdout.write(f"model:      {info['model']} (from {info['model_dir'] or 'the internet: Demucs download'})")
        self.stdout.write(f"device:     {info['device']} (CUDA available: {info['cuda_available']})")
        self.stdout.write(f"threads:    {info['threads']}")
        self.stdout.write(f"overlap:    {info['overlap']}  shifts: {info['shifts']}  segment: {info['segment'] or 'the model’s own'}")
        self.stdout.write(f"allocator:  {'tuned' if info['allocator_tuned'] else 'glibc defaults (slower; `serve` tunes it)'}")
        if info["last_load_seconds"] is not None:
            self.stdout.write(f"load time:  {info['last_load_seconds']:.2f} s")
