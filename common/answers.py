"""An error as the asker can read it: the API's JSON shape under /api/, for an htmx request
the small fragment a page swaps where the user acted, otherwise a page."""

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html


def error_answer(request, *, status: int, message: str, template: str, extra: dict | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"message": message, "extra": extra or {}}, status=status)
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(format_html('<p class="error" role="alert">{}</p>', message), status=status)
    return render(request, template, {"message": message}, status=status)
