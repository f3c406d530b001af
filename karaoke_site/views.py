"""The home page, the API's root, and the error answers of the whole site."""

from django.core.exceptions import BadRequest
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.html import format_html
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts import onboarding
from common.answers import error_answer


def home(request):
    # A new site, opened on the machine itself: straight to making the host's account.
    if onboarding.available(request):
        return redirect("accounts:welcome")
    return render(request, "home.html")


class ApiRootApi(APIView):
    """Where the API's parts are (anyone may ask)."""

    permission_classes = [AllowAny]
    public_methods = {"GET"}  # no credentials needed (common/schema.py)

    @extend_schema(summary="Where the API's parts are", responses={200: dict})
    def get(self, request):
        return Response(
            {
                "schema": reverse("api-schema", request=request),
                "docs": reverse("api-docs", request=request),
            }
        )


# --- errors --------------------------------------------------------------------------------
# Under /api/ the one error shape, for an htmx request the small fragment a page shows
# where the user acted, otherwise a friendly page. Never a traceback or a setting: Django
# logs server errors with their traceback (django.request), the answer says nothing more.


def bad_request(request, exception=None):
    # BadRequest carries a message written for the user; other causes (a suspicious
    # operation) say nothing of what was suspected.
    message = str(exception) if type(exception) is BadRequest and str(exception) else "The request could not be understood."
    return error_answer(request, status=400, message=message, template="400.html")


def permission_denied(request, exception=None):
    return error_answer(request, status=403, message="You may not do that.", template="403.html")


def page_not_found(request, exception=None):
    return error_answer(request, status=404, message="There is nothing at this address.", template="404.html")


def csrf_failure(request, reason=""):
    return error_answer(
        request, status=403, template="403_csrf.html",
        message="This page's security token is missing or out of date: reload the page and try again.",
    )


def server_error(request):
    message = "Something went wrong on our side. It has been noted; try again in a moment."
    if request.path.startswith("/api/"):
        return JsonResponse({"message": message, "extra": {}}, status=500)
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(format_html('<p class="error" role="alert">{}</p>', message), status=500)
    # No request context: the error may be in what the context processors read (the
    # session, the database).
    return HttpResponse(loader.get_template("500.html").render({"message": message}), status=500)
