"""The party's pages (HTMX-aware function views): the singer's room, the host's console
and the TV. Reads through queue_app.selectors, writes through queue_app.services, who is
asking through queue_app.access; refusals are shown where the user acted, with their 4xx.
"""

from django.http import Http404

# --- singers and hosts ---------------------------------------------------------------------


def room_list(request):
    raise Http404("not built yet")


def room_singer(request, code):
    raise Http404("not built yet")


def room_host(request, code):
    raise Http404("not built yet")


# --- the TV ----------------------------------------------------------------------------------


def room_tv(request, code):
    raise Http404("not built yet")
