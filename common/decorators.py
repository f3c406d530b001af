"""View decorators shared by the apps' pages."""

from functools import wraps
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render, resolve_url
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh


def staff_required(view):
    """Hosts only: anonymous users sign in first, signed-in non-staff get a friendly 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                # A redirect would be followed by XHR and the login page swapped into a row.
                back = request.htmx.current_url_abs_path or request.get_full_path()
                return HttpResponseClientRedirect(f"{resolve_url(settings.LOGIN_URL)}?next={quote(back)}")
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            if request.htmx:
                return HttpResponseClientRefresh()
            return render(request, "staff_forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
