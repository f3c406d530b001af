"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karaoke_site.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from karaoke_site.routing import websocket_urlpatterns  # noqa: E402

# WhiteNoise serves files with a synchronous iterator; Django warns about it on
# every static response under ASGI. The files are small and cached: accepted.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
