"""The account forms: they validate; accounts/services.py writes."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import User


class SignUpForm(UserCreationForm):
    """Username, display name and the password twice, through Django's password validators.

    UserCreationForm already refuses a username taken in any letter case and two passwords
    that differ, and runs AUTH_PASSWORD_VALIDATORS against the would-be user.
    """

    display_name = forms.CharField(
        max_length=80, required=False, strip=True,
        help_text="The name singers see in a room; your username when empty.",
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "display_name")


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        max_length=80, strip=True, help_text="The name singers see in a room.",
        error_messages={"required": "Tell us the name singers should see."},
    )
