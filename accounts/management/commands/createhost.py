"""`manage.py createhost NAME`: a user who may open party rooms (or make an existing one a host)."""

import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a host (a user who may open party rooms), or make an existing user one."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--display-name", default="", help="The name singers see.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password", default=None,
            help="The new user's password (asked for when omitted and stdin is a terminal).",
        )
        parser.add_argument("--no-input", action="store_true", help="Never prompt; without --password the user cannot sign in with one.")

    def handle(self, *args, username, display_name, email, password, no_input, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            changed = not user.is_host
            user.is_host = True
            if display_name:
                user.display_name = display_name
            user.save(update_fields=["is_host", "display_name"])
            self.stdout.write(f"{username} {'is now a host' if changed else 'was already a host'}.")
            return
        if password is None and not no_input:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        user = User(username=username, email=email, display_name=display_name, is_host=True)
        if password:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        self.stdout.write(f"Host {username} created.")
