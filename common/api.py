"""The API's single error format: {"message": ..., "extra": {...}}.

DRF's own exceptions, Django's validation and 404 errors, and our
ApplicationError all leave through this handler, so a client only ever has one
shape to read.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.utils import html
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import ApplicationError


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("non_field_errors", "detail") else f"{key}: {inner}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def filter_by_choices(queryset, params, choices: dict[str, list[str]]):
    """Filter a list endpoint by `?name=value` for each named choice field.

    An unknown value is the client's mistake: a 400 naming the allowed ones,
    not an empty list that looks like "no results".
    """
    for name, allowed in choices.items():
        values = params.getlist(name)
        if not values:
            continue
        if len(values) > 1 or values[0] not in allowed:  # empty too: not quietly "any"
            raise ApplicationError(f"{name} must be one of: {', '.join(allowed)}.", extra={name: values})
        queryset = queryset.filter(**{name: values[0]})
    return queryset


class TextField(serializers.CharField):
    """DRF's CharField, taking text only: DRF's own turns a JSON number into its digits, so
    `{"display_name": 12}` joined as "12" where the schema says a string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class NullableIntegerField(serializers.IntegerField):
    """An integer that may be null, in a form body too: JSON's null has no spelling in a
    form, so there (multipart or urlencoded) "null" is null, as the schema's clients send it."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and value == "null":
            return None
        return value


FLAGS = {"true": True, "1": True, "false": False, "0": False}


def query_flag(params, name: str) -> bool:
    """A yes/no query parameter (`?hard=true`): true/false or 1/0, once; absent is false.
    Anything else is a 400: a typo must not quietly mean "no"."""
    values = params.getlist(name)
    if not values:
        return False
    if len(values) > 1 or values[0] not in FLAGS:
        raise ApplicationError(f"{name} must be true or false.", extra={name: values})
    return FLAGS[values[0]]


class Pagination(pagination.PageNumberPagination):
    """DRF's page numbers (`?page=`, from 1), where a page that is not a number from 1 is
    a 400, not quietly the first page (`?page=` given twice, the last one empty, was);
    a page past the last stays DRF's 404."""

    def get_page_number(self, request, paginator):
        values = request.query_params.getlist(self.page_query_param)
        if not values:
            return 1
        if len(values) > 1 or not values[0].isascii() or not values[0].isdigit() or int(values[0]) < 1:
            raise ApplicationError("page must be a whole number from 1.", extra={"page": values})
        return int(values[0])

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class OutputFieldsOnce:
    """For output serializers: the fields are built once per class, not per object.

    A ModelSerializer introspects its model and constructs every field each time
    one is created: about 10 ms for a Song on these machines, most of the import
    endpoint's own time (and once per row for a nested serializer in a list).
    Here they are built once, bound to a template without context, and shared
    (read only). So a `get_<field>` method of such a serializer must not read
    `self.context` or `self.instance`; use it only for output.
    """

    _shared_fields: dict = {}

    @property
    def fields(self):
        cls = type(self)
        fields = OutputFieldsOnce._shared_fields.get(cls)
        if fields is None:
            # Two threads may both build them the first time; either result is right.
            fields = serializers.Serializer.fields.func(cls())
            OutputFieldsOnce._shared_fields[cls] = fields
        return fields


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        response = Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
        if getattr(exc, "retry_after", None):  # a Throttled (common/throttle.py)
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: let Django log it and answer 500
    detail = response.data
    extra = {"fields": detail} if isinstance(exc, exceptions.ValidationError) else dict(getattr(exc, "extra", {}))
    response.data = {"message": _first_message(detail), "extra": extra}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and getattr(exc, "wait", None):
        response.data["extra"]["retry_after"] = exc.wait
    return response
