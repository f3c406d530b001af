"""Sign up, sign in (Django's view, plus the guest's songs) and the profile page.

Thin views: the forms validate, accounts/services.py and queue_app/services.py write.
A refused form is shown again with its messages and a 400.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts import services, throttles
from accounts.forms import ProfileForm, SignUpForm
from common.errors import ApplicationError
from common.throttle import Throttled, client_address, with_retry_after
from queue_app import access
from queue_app import selectors as queue_selectors
from queue_app import services as queue_services


def _claim_guest_singers(request) -> None:
    """The songs this browser queued as a guest become the signed-in user's.

    The session maps room codes to guest tokens (queue_app.access.SESSION_KEY). A claimed
    singer keeps its token, so the map stays right. Where the user already sang in that
    room, the guest singer stays a guest and the room forgets the token: this browser is
    now the account's singer there, as on any other device the user signs in on.
    """
    tokens = (request.session.get(access.SESSION_KEY) or {}).values()
    if not tokens:
        return
    claim = queue_services.singer_claim_for_user(user=request.user, tokens=list(tokens))
    for singer in claim.claimed:
        access.remember_singer(request.session, singer)
    for guest in claim.kept:
        access.forget_singer(request.session, guest.room)
    if claim.claimed:
        rooms = ", ".join(sorted(singer.room.code for singer in claim.claimed))
        messages.success(request, f"The songs you queued as a guest (room {rooms}) are now in your account.")
    if claim.kept:
        rooms = ", ".join(sorted(guest.room.code for guest in claim.kept))
        messages.info(
            request, f"You already sing in room {rooms} with this account; what you queued there as a guest stays under the guest's name."
        )


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        try:
            throttles.signin_check(username=username, client=client_address(request))
        except Throttled as exc:
            # Said on the form, before any password is checked (a right one would not pass either).
            form = self.get_form_class()(request, initial={"username": username[:150]})
            context = self.get_context_data(form=form, throttled=exc.message)
            return with_retry_after(self.render_to_response(context, status=429), exc)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        _claim_guest_singers(self.request)
        return response

    def form_invalid(self, form):
        # A refused sign-in is a 400 with its message, like every other refused form.
        return self.render_to_response(self.get_context_data(form=form), status=400)


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        messages.info(request, "You are signed in already.")
        return redirect("accounts:profile")
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_sign_up(
                username=form.cleaned_data["username"], password=form.cleaned_data["password1"],
                display_name=form.cleaned_data["display_name"],
            )
        except ApplicationError as exc:
            form.add_error("username", exc.message)
        else:
            login(request, user)
            messages.success(request, f"Welcome, {user}!")
            _claim_guest_singers(request)
            return redirect(_next_url(request, "accounts:profile"))
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form, "next": _next_url(request, "")}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST if request.method == "POST" else None, initial={"display_name": request.user.display_name})
    if request.method == "POST":
        if form.is_valid():
            services.user_update_profile(user=request.user, display_name=form.cleaned_data["display_name"])
            messages.success(request, "Your display name is saved.")
            return redirect("accounts:profile")
    context = {"form": form, "history": queue_selectors.user_sung_history(user=request.user)}
    return render(request, "accounts/profile.html", context, status=400 if form.errors else 200)
