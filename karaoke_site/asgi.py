"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karaoke_site.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from common.bodylimit import BodyLimit  # noqa: E402
from common.sockets import SameOriginWebSockets, WebSocketAddresses  # noqa: E402
from karaoke_site.routing import websocket_urlpatterns  # noqa: E402

# WhiteNoise serves files with a synchronous iterator; Django warns about it on
# every static response under ASGI. The files are small and cached: accepted.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

# Not Channels' AllowedHostsOriginValidator: with ALLOWED_HOSTS=* (the default, for
# phones on the LAN) it accepts every origin. common/sockets.py says what is checked.
application = ProtocolTypeRouter(
    {
        # Bodies are capped before Django reads them (it reads a whole body first).
        "http": BodyLimit(django_asgi_app),
        "websocket": SameOriginWebSockets(
            WebSocketAddresses(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)), websocket_urlpatterns)
        ),
    }
)
