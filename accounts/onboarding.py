"""First run: the person at the server itself makes the host account in the browser.

Like Home Assistant's onboarding: while no staff account exists, `/accounts/welcome/`
lets someone at the machine running the site (a loopback address, asked for by its
loopback name) create it; anywhere else, and once a staff account exists, it is a 404.
The README's party steps start here, and `serve` prints its address.
"""

import ipaddress

from django.contrib.auth import login
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.forms import SignUpForm
from common.errors import ApplicationError

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


def from_this_machine(request) -> bool:
    """Asked from the machine itself: a loopback peer *and* a loopback Host. A reverse proxy
    on the same machine makes every visitor's peer loopback, but not their Host."""
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    host = request.get_host().rsplit(":", 1)[0] if not request.get_host().startswith("[") else \
        request.get_host().split("]")[0] + "]"
    return peer.is_loopback and host.lower() in LOOPBACK_NAMES


def available(request) -> bool:
    return from_this_machine(request) and services.onboarding_open()


@require_http_methods(["GET", "POST"])
def welcome(request):
    if not available(request):
        raise Http404("There is nothing to set up here.")
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = services.user_create_first_host(
                    username=form.cleaned_data["username"], password=form.cleaned_data["password1"],
                    display_name=form.cleaned_data["display_name"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("rooms:list")
        else:
            status = 400
    return render(request, "accounts/welcome.html", {"form": form}, status=status)
