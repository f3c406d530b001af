from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from songs.audio.demucs_models import install_model
from songs.errors import AdapterError


class Command(BaseCommand):
    help = (
        "Put a Demucs model into DEMUCS_MODEL_DIR (or --dir): from a .th file, a .yaml bag or a folder "
        "(--from), or by downloading it where there is internet. The model is then loaded once to check it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", default=settings.DEMUCS_MODEL, help="Model name (default: DEMUCS_MODEL).")
        parser.add_argument("--from", dest="source", type=Path, help="A .th file, a .yaml bag, or a folder.")
        parser.add_argument("--dir", dest="target_dir", type=Path, default=None, help="Target folder (default: DEMUCS_MODEL_DIR).")

    def handle(self, *args, name, source, target_dir, **options):
        target = target_dir or settings.DEMUCS_MODEL_DIR
        if target is None:
            raise CommandError(
                "Where should the model go? Set DEMUCS_MODEL_DIR (for example to "
                f"{settings.DATA_DIR / 'models'}) or pass --dir."
            )
        if source is not None and not source.exists():
            raise CommandError(f"{source} does not exist.")
        try:
            written = install_model(name, Path(target), source)
        except AdapterError as exc:
            raise CommandError(exc.message) from None
        for path in written:
            self.stdout.write(f"wrote {path}")
        self.stdout.write(self.style.SUCCESS(f"Model {name!r} is ready in {target}."))
        if settings.DEMUCS_MODEL_DIR is None or Path(target).resolve() != settings.DEMUCS_MODEL_DIR:
            self.stdout.write(f"Set DEMUCS_MODEL_DIR={Path(target).resolve()} so the workers read it from there.")
