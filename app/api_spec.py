"""The API contract's machinery: spectree validates each request against its ``app.api_requests`` model and
writes the OpenAPI 3.1 document from those models and ``app.api_responses``.

Why spectree (README, "HTTP API"): it decorates plain Flask views in our own blueprints and app factory,
validates query strings, forms, uploads and JSON bodies with pydantic v2, and refuses a repeated
parameter on its own (it arrives as a list); its validation errors become our own error shape here.
"""

from __future__ import annotations

from typing import Any, Iterable

import flask
from pydantic import ValidationError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter
from spectree.plugins.flask_plugin import FlaskPlugin

from app.api_responses import ErrorBody
from app.errors import STATUS, ApiError

TITLE = "shoplens"
API_VERSION = "1.1.0"
DESCRIPTION = ("Visual product search and virtual makeup try-on. Every error is "
               '`{"error": {"code", "message"}}` with the status its code stands for; clients switch on `code`. '
               "Parameters are refused when they break their schema, and when one is given more than once.")
# operations that load the model or the index answer 503 index_not_ready while a worker starts
LOADING = ("index_not_ready",)
UPLOAD_ERRORS = ("missing_image", "empty_image", "invalid_image", "image_too_large", "payload_too_large",
                 "unsupported_media_type", "image_too_small", "invalid_parameter")
ADMIN_ERRORS = ("unauthorized", "admin_disabled")

def raise_api_error(request, response, error: ValidationError | None, instance, model_adapter) -> None:
    """spectree's ``before`` hook: a request that breaks its model becomes our JSON error, never theirs."""
    if error is not None:
        raise api_error(error)


def refuse_broken_response(request, response, error: ValidationError | None, instance, model_adapter) -> None:
    """spectree's ``after`` hook: a response that breaks its own model is our bug. The client gets our
    ``internal_error`` (through the app's error handler, which logs it), never spectree's error list."""
    if error is not None:
        raise RuntimeError(f"{request.endpoint} answered outside its documented model: "
                           f"{error.errors(include_input=False, include_url=False)[:3]}")


class _FlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin, letting non-JSON answers (images, CSV, pages) through untouched: they have no
    model to check, and spectree would read a streamed file's whole body to look for one."""

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        if isinstance(resp, flask.Response) and resp.mimetype != "application/json":
            return resp, None
        return super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)


class _ErrorsWithoutInput(PydanticModelAdapter):
    """spectree serialises validation errors before our hook replaces them; an upload cannot be serialised,
    and a request's values have no place in an error body anyway."""

    def validation_errors(self, err: ValidationError) -> Any:
        return err.errors(include_context=False, include_input=False, include_url=False)


class _SpecTree(SpecTree):
    def _generate_spec(self) -> dict[str, Any]:
        spec = super()._generate_spec()
        admit_empty_values(spec)
        return spec


def admit_empty_values(spec: dict[str, Any]) -> None:
    """Say in the document what ``api_requests.Parameters`` does: an empty query or form field counts as
    absent (an HTML form sends its empty inputs). Query parameters get ``allowEmptyValue``; optional form
    fields whose schema refuses "" get it as an alternative. An absent value is not null, so the ``default:
    null`` pydantic writes for "no default" goes."""
    schemas = spec["components"]["schemas"]
    for operation in (op for item in spec["paths"].values() for op in item.values()):
        for parameter in operation.get("parameters", []):
            _drop_null_default(parameter["schema"])
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
        if form:
            model = schemas[form["schema"]["$ref"].rsplit("/", 1)[1]]
            required = set(model.get("required", ()))
            for name, schema in model["properties"].items():
                _drop_null_default(schema)
                if name not in required and not _admits_empty(schema):
                    inner = {key: schema.pop(key) for key in list(schema) if key not in _ANNOTATIONS}
                    schema["anyOf"] = [inner, {"const": ""}]


_ANNOTATIONS = ("title", "description", "default", "examples")


def _drop_null_default(schema: dict[str, Any]) -> None:
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def _admits_empty(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not {"pattern", "minLength", "enum", "format"} & set(schema)


api = _SpecTree(
    "flask", backend=_FlaskPlugin, title=TITLE, version=API_VERSION, description=DESCRIPTION, mode="strict",
    annotations=True, validation_error_status=400, validation_error_model=ErrorBody, page_templates={},
    before=raise_api_error, after=refuse_broken_response, model_adapter=_ErrorsWithoutInput(),
    naming_strategy=lambda model: model.__name__, nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer"))])


class ApiResponses(Response):
    """spectree's responses plus the error codes each status stands for, and non-JSON bodies."""

    def __init__(self, ok: Any = None, *errors: str, status: int = 200, media: str = "", also: str = "",
                 extra: dict[int, str] | None = None, errors_as_page: bool = False):
        """``ok``: the success model, or its description when ``media`` names a non-JSON body; ``also``: a
        second media type the success may come as (a CSV download); ``extra``: bodiless statuses (304);
        ``errors_as_page``: the errors come as the HTML page too (a navigation's answer, never JSON)."""
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(errors):
            by_status.setdefault(STATUS[code], []).append(code)
        models: dict[str, Any] = {f"HTTP_{status}": None if media else ok}
        for error_status, codes in sorted(by_status.items()):
            models[f"HTTP_{error_status}"] = (ErrorBody, "code: " + ", ".join(codes))
        for extra_status, description in (extra or {}).items():
            models[f"HTTP_{extra_status}"] = (None, description)
        super().__init__(**models)
        self.ok_status = status
        self.media = media
        self.ok_description = ok if media else None
        self.also = also
        self.error_statuses = sorted(by_status) if errors_as_page else []

    def generate_spec(self, naming_strategy) -> dict[str, Any]:
        spec = super().generate_spec(naming_strategy)
        if self.media:
            spec[str(self.ok_status)] = {"description": self.ok_description or "OK",
                                         "content": {media: {"schema": _body_schema(media)}
                                                     for media in self.media.split(",")}}
        if self.also:
            spec[str(self.ok_status)]["content"][self.also] = {"schema": _body_schema(self.also)}
        for error_status in self.error_statuses:
            spec[str(error_status)]["content"] = {"text/html": {"schema": {"type": "string"}}}
        return spec


def _body_schema(media: str) -> dict[str, str]:
    if media.endswith("+json"):
        return {"type": "object"}
    return {"type": "string", "format": "binary"} if media.startswith("image/") else {"type": "string"}


def api_error(error: ValidationError) -> ApiError:
    """The client's error for a request that breaks its model."""
    return ApiError(*error_for(error.errors(include_url=False)))


def error_for(errors: Iterable[dict[str, Any]]) -> tuple[str, str]:
    """The stable code and a readable message for pydantic's errors (the first one decides the code)."""
    errors = list(errors)
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if field == "image" and (first["type"] == "missing" or "file part" in first["msg"]):
        return "missing_image", "Upload a photo in the multipart field 'image'."
    if field == "q" and first["type"] in ("missing", "string_too_short", "string_pattern_mismatch"):
        return "missing_query", "Give a text query in q (or upload an image with POST)."
    return "invalid_parameter", "; ".join(_describe(error) for error in errors[:3])


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    if len(error["loc"]) == 1 and isinstance(error.get("input"), list) and error["type"] != "missing":
        return f"{where} is given more than once; give it once"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"
