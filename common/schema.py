"""The API's OpenAPI schema: drf-spectacular's, telling every answer an operation can give.

- Every error is the one shape of common/api.py, the `Error` component. The statuses
  every operation can answer are added here, so no view can forget them:
  400 (a field, a query parameter, or an address holding a NUL byte), 403 (not allowed;
  a cookie write without its CSRF token; a wrong `Authorization: Token`), 404 (an
  unknown id or code in the address, a page past the last), 413 (any write: bodies are
  capped before they are read, common/bodylimit.py), 429 (an address with a room code:
  guessing codes is throttled). A view names the others it gives (409, 503, more 429s)
  in its `@extend_schema(responses=...)`.
- Security: `{}` (no credentials) only for the methods a view lists in `public_methods`
  (DRF's AllowAny alone says nothing: the room views allow anyone in and then refuse who
  is not a singer or the host); the room views (`singer_token = True`) also take a
  guest's `X-Singer-Token`.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers

from common.api import TextField


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    extra = serializers.DictField(
        help_text="Details: `fields` (each invalid field's messages), `limit_bytes` (413), "
                  "`retry_after` (429, seconds; also the Retry-After header), `reason`, `limit`..."
    )


ERROR_DESCRIPTIONS = {
    400: "The request is invalid; `message` says why, `extra.fields` names the fields.",
    403: "Not allowed: not signed in, not this room's singer or host, not staff, or a cookie write "
         "without the page's CSRF token.",
    404: "Nothing has that id or code.",
    409: "It conflicts with the current state (`message` says how).",
    413: "The body is over the limit (`extra.limit_bytes`).",
    429: "Too many attempts; try again after `Retry-After` seconds (`extra.retry_after`).",
    503: "A service the server needs (YouTube) cannot be reached now; try again later.",
}


def error(status: int, description: str | None = None) -> OpenApiResponse:
    """An error answer for `@extend_schema(responses={status: error(status)})`."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status])


SINGER_TOKEN_SCHEME = {
    "type": "apiKey", "in": "header", "name": "X-Singer-Token",
    "description": "A guest singer's identity in a room: the `token` the join answer returns.",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BLANK = {"type": "string", "maxLength": 0}


# The characters of a text field: any but NUL, which DRF refuses ("Null characters are not
# allowed") and PostgreSQL cannot store.
TEXT = r"[^\x00]"
VISIBLE = r"[^\s\x00]"


def text_pattern(field: serializers.CharField) -> dict:
    """What DRF's CharField takes, as a JSON Schema: no NUL; and when it trims the spaces
    around (the default), its length limits count what is left, and a field that may not
    be blank needs a character that is not a space."""
    if not field.trim_whitespace:
        schema = {"pattern": f"^{TEXT}*$"}
        if not field.allow_blank:
            schema["minLength"] = max(field.min_length or 0, 1)
        return schema
    longest = field.max_length
    if longest is None:
        middle = f"{TEXT}*"
    else:
        middle = f"{TEXT}{{0,{max(longest - 2, 0)}}}"
    core = f"{VISIBLE}(?:{middle}{VISIBLE})?" if longest != 1 else VISIBLE
    return {"pattern": rf"^\s*({core}){'?' if field.allow_blank else ''}\s*$"}


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if direction == "request" and isinstance(field, serializers.FileField):
            return {"type": "string", "format": "binary"}  # a file part of a multipart body, not its URL
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def _map_basic_serializer(self, serializer, direction):
        self._direction = direction  # for _insert_field_validators, which is not told
        try:
            return super()._map_basic_serializer(serializer, direction)
        finally:
            self._direction = None

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        if getattr(self, "_direction", None) != "request" or not isinstance(field, serializers.CharField):
            return
        if field.trim_whitespace and len(schema.get("oneOf", ())) == 2 and schema["oneOf"][1] == BLANK:
            # drf-spectacular's "or blank" for a field with its own pattern: that pattern
            # (a KeyField's) takes blank itself, and "" matching both would match neither.
            schema.update(schema.pop("oneOf")[0])
        if schema.get("type") != "string":
            return
        if "pattern" not in schema and type(field) in (serializers.CharField, TextField):
            schema.update(text_pattern(field))
        if field.trim_whitespace and "pattern" in schema:
            # The pattern holds the limits, spaces around allowed: the raw text may be longer.
            schema.pop("maxLength", None)
            schema.pop("minLength", None)

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if (parameter["in"] == "query" and schema.get("type") == "string"
                    and not {"pattern", "enum", "format", "$ref"} & set(schema)):
                schema["pattern"] = f"^{TEXT}*$"  # a NUL in the address is a 400 (common/middleware.py)
        return parameters

    def _error_statuses(self) -> set[int]:
        statuses = {400, 403}
        if "{" in self.path or self._get_paginator() is not None:
            statuses.add(404)
        if self.method in WRITES:
            statuses.add(413)
        if "{code}" in self.path:
            statuses.add(429)
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction == "response":
            for status in sorted(self._error_statuses()):
                if str(status) not in responses:
                    responses[str(status)] = self._get_response_for_code(error(status), str(status), direction=direction)
        return responses

    def get_auth(self):
        requirements = [requirement for requirement in super().get_auth() if requirement]
        if getattr(self.view, "singer_token", False):
            self.registry.register_on_missing(ResolvedComponent(
                name="singerToken", type=ResolvedComponent.SECURITY_SCHEMA, object="singerToken",
                schema=SINGER_TOKEN_SCHEME,
            ))
            requirements.append({"singerToken": []})
        if self.method in getattr(self.view, "public_methods", ()):
            requirements.append({})
        return requirements
