"""Forms of the party pages that more than one module draws: the host's settings form is
rendered by the host's page, its HTMX answer and the HTML consumer's push."""

from django import forms

from queue_app.models import Room


class RoomSettingsForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    is_open = forms.BooleanField(required=False, label="Open to new singers")
    new_password = forms.CharField(max_length=128, required=False, strip=False, label="New password",
                                   widget=forms.PasswordInput)
    remove_password = forms.BooleanField(required=False, label="No password")
    rotation_mode = forms.ChoiceField(choices=Room.RotationMode.choices, label="Rotation")
    max_waiting_per_singer = forms.IntegerField(
        min_value=1, max_value=100, required=False, label="Songs waiting per singer (empty: no limit)"
    )
    # Not required: a form without them (an older page still open) keeps the room's values.
    request_max_minutes = forms.IntegerField(min_value=1, max_value=60, required=False, label="Longest request (minutes)")
    max_pending_requests = forms.IntegerField(
        min_value=1, max_value=20, required=False, label="Requests waiting per singer"
    )
    requests = forms.ChoiceField(choices=Room.Requests.choices, required=False, label="Song requests from YouTube")
    interlude_seconds = forms.IntegerField(
        min_value=0, max_value=60, required=False, label="Pause between singers (seconds, 0: none)"
    )

    def changes(self) -> dict:
        data = {name: value for name, value in self.cleaned_data.items()
                if not (name in ("requests", "request_max_minutes", "max_pending_requests", "interlude_seconds")
                        and value in (None, ""))}
        new_password, remove = data.pop("new_password"), data.pop("remove_password")
        if remove:
            data["password"] = ""
        elif new_password:
            data["password"] = new_password
        return data
