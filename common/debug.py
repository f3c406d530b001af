"""What Django's debug page (DEBUG=true only) may show of the settings and variables.

Django masks settings by name (PASSWORD, SECRET, TOKEN, KEY...), but the addresses of
the database and Redis carry their passwords in the value: `DATABASE_URL`, `REDIS_URL`,
the channel layer's and the cache's hosts showed them in clear. Here the password of
any URL is masked wherever it appears, in settings and in the variables of the
traceback's frames.
"""

import re

from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@host  or  scheme://:password@host
_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<password>[^/@\s]+)(?=@)", re.I)


def mask_url_passwords(value):
    if isinstance(value, str):
        return _CREDENTIALS.sub(lambda m: m["head"] + SafeExceptionReporterFilter.cleansed_substitute, value)
    return value


class SecretsReporterFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key, value):
        return mask_url_passwords(super().cleanse_setting(key, value))

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, mask_url_passwords(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]
