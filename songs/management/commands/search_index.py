"""``manage.py search_index``: rebuild the search index of every song from its rows.

The services keep the index song by song (songs/search_index.py); this rebuilds it whole:
after a database restored or copied by hand, or to repair it. SQLite's FTS5 tables are
emptied first; the vocabulary of typo corrections only grows (a stale word costs nothing).
"""

import time

from django.core.management.base import BaseCommand

from songs import search_index


class Command(BaseCommand):
    help = "Rebuild the search index (folded texts, FTS5 tables on SQLite, the typo vocabulary) of every song."

    def handle(self, *args, **options):
        started = time.monotonic()
        count = search_index.rebuild()
        self.stdout.write(f"Indexed {count} song{'s' if count != 1 else ''} in {time.monotonic() - started:.1f} s.")
