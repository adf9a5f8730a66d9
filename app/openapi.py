"""The OpenAPI 3 description of the HTTP API; a test keeps it and the routes in step."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.errors import STATUS
from app.params import DEFAULT_K, MAX_K, MAX_QUERY_CHARS

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


def _param(name: str, schema: dict, description: str, where: str = "query", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(ref: str, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


FILTERS = [
    _param("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K}, "Number of results."),
    _param("category", {"type": "string"}, "Only this category (case-insensitive)."),
    _param("brand", {"type": "string"}, "Only this brand (case-insensitive)."),
    _param("product_type", {"type": "string", "enum": ["lipstick", "lip_liner", "eyeshadow", "eyeliner", "blush",
                                                       "foundation", "concealer", "brow"]}, "Only this makeup type."),
    _param("min_price", {"type": "number", "minimum": 0}, "Lowest price."),
    _param("max_price", {"type": "number", "minimum": 0}, "Highest price."),
    _param("in_stock", {"type": "boolean"}, "Only products in (or out of) stock."),
]
PRODUCT_ID = _param("product_id", {"type": "string"}, "Catalog product id.", where="path", required=True)
SEARCH_ERRORS = {"400": _error("Invalid parameter or image"), "413": _error("Image too large"),
                 "415": _error("Not a supported image type"), "422": _error("Image too small"),
                 "503": _error("Index not loaded yet")}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": sorted(STATUS)}, "message": {"type": "string"}}}}},
    "Product": {"type": "object", "required": ["id", "title", "image_url"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "price": {"type": "number", "nullable": True},
        "currency": {"type": "string", "nullable": True}, "url": {"type": "string", "nullable": True},
        "category": {"type": "string", "nullable": True}, "brand": {"type": "string", "nullable": True},
        "in_stock": {"type": "boolean"}, "product_type": {"type": "string", "nullable": True},
        "shade_hex": {"type": "string", "nullable": True}, "finish": {"type": "string", "nullable": True},
        "image_url": {"type": "string", "description": "Thumbnail served by this app."}}},
    "ShadeMatch": {"allOf": [{"$ref": "#/components/schemas/Product"}, {"type": "object", "properties": {
        "delta_e": {"type": "number", "description": "CIEDE2000 distance to the measured colour."}}}]},
    "SearchResults": {"type": "object", "required": ["results", "took_ms"], "properties": {
        "results": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Product"}, {
            "type": "object", "properties": {"score": {"type": "number", "description": "Cosine similarity."}}}]}},
        "version": {"type": "string"}, "took_ms": {"type": "number"}}},
}

SEARCH_FORM = {"multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
    "image": {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP, GIF, BMP or TIFF photo."},
    "q": {"type": "string", "maxLength": MAX_QUERY_CHARS, "description": "Text to mix in (\"but in green\")."},
    "text_weight": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
    "crop": {"type": "string", "pattern": r"^\d+,\d+,\d+,\d+$",
             "description": "x,y,w,h in pixels of the upright photo."}}}}}

PATHS = {
    "/api/v1/search": {
        "post": {"summary": "Products that look like a photo", "parameters": FILTERS,
                 "requestBody": {"required": True, "content": SEARCH_FORM},
                 "responses": {"200": _json("#/components/schemas/SearchResults"), **SEARCH_ERRORS}},
        "get": {"summary": "Products matching a text query", "parameters": [
            _param("q", {"type": "string", "maxLength": MAX_QUERY_CHARS}, "Text query.", required=True), *FILTERS],
            "responses": {"200": _json("#/components/schemas/SearchResults"), **SEARCH_ERRORS}},
    },
    "/api/v1/products/{product_id}": {"get": {
        "summary": "One product", "parameters": [PRODUCT_ID],
        "responses": {"200": _json("#/components/schemas/Product"), "404": _error("Unknown product")}}},
    "/api/v1/products/{product_id}/similar": {"get": {
        "summary": "More like this", "parameters": [PRODUCT_ID, *FILTERS],
        "responses": {"200": _json("#/components/schemas/SearchResults"), "404": _error("Unknown product")}}},
    "/catalog/images/{product_id}": {"get": {
        "summary": "Product thumbnail (JPEG, ETag-cached)", "parameters": [
            PRODUCT_ID, _param("size", {"type": "integer", "enum": [128, 256, 384, 512, 768]}, "Longest side.")],
        "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}},
                      "304": {"description": "Not modified"}, "404": _error("Unknown product")}}},
    "/api/v1/tryon": {"post": {
        "summary": "The photo with makeup applied (JPEG, same size as the upload; never stored)",
        "parameters": [_param("faces", {"type": "string", "enum": ["all", "largest"], "default": "all"},
                              "Make up every face, or only the largest.")],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["image", "looks"], "properties": {
                "image": {"type": "string", "format": "binary"},
                "looks": {"type": "string", "description": 'JSON list of {"product_id", "intensity"?} or '
                          '{"type", "color": "#RRGGBB", "finish"?, "intensity"?}; intensity 0..1.'},
                "faces": {"type": "string", "enum": ["all", "largest"]}}}}}},
        "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}},
                      "404": _error("Unknown product"), "422": _error("No face found"), **SEARCH_ERRORS}}},
    "/api/v1/face/landmarks": {"post": {
        "summary": "Faces with box and named region polygons, for live rendering in the app",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": {"description": "Faces", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"width": {"type": "integer"}, "height": {"type": "integer"},
                                             "faces": {"type": "array", "items": {"type": "object", "properties": {
                                                 "box": {"type": "array", "items": {"type": "integer"}},
                                                 "regions": {"type": "object", "additionalProperties": {
                                                     "type": "array", "items": {"type": "array",
                                                                                "items": {"type": "number"}}}}}}}}}}}},
            "422": _error("No face found"), **SEARCH_ERRORS}}},
    "/api/v1/face/analyze": {"post": {
        "summary": "Skin tone (CIELAB, ITA, Monk step, undertone, confidence) and closest foundation shades",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": {"description": "Per face: box, skin, recommendations (product + delta_e)",
                              "content": {"application/json": {"schema": {"type": "object", "properties": {
                                  "faces": {"type": "array", "items": {"type": "object", "properties": {
                                      "box": {"type": "array", "items": {"type": "integer"}},
                                      "skin": {"type": "object", "properties": {
                                          "hex": {"type": "string"}, "lab": {"type": "array", "items": {"type": "number"}},
                                          "ita": {"type": "number"}, "ita_category": {"type": "string"},
                                          "monk": {"type": "integer", "minimum": 1, "maximum": 10},
                                          "undertone": {"type": "string", "enum": ["warm", "neutral", "cool"]},
                                          "confidence": {"type": "number"}, "white_balanced": {"type": "boolean"}}},
                                      "recommendations": {"type": "array", "items": {
                                          "$ref": "#/components/schemas/ShadeMatch"}}}}}}}}}},
                      "422": _error("No face found"), **SEARCH_ERRORS}}},
    "/api/v1/shades/match": {"post": {
        "summary": "Find this lipstick: the lip colour in a photo and the closest catalog lipsticks",
        "parameters": [_param("k", {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}, "Matches.")],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["image"], "properties": {"image": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": {"description": "Lip colour and matches, closest first",
                              "content": {"application/json": {"schema": {"type": "object", "properties": {
                                  "lip_color": {"type": "string"}, "lab": {"type": "array", "items": {"type": "number"}},
                                  "matches": {"type": "array", "items": {"$ref": "#/components/schemas/ShadeMatch"}}}}}}},
                      "422": _error("No face found"), **SEARCH_ERRORS}}},
    "/api/v1/tryon/products": {"get": {
        "summary": "Makeup shades of the catalog, grouped by product type",
        "responses": {"200": {"description": "Groups", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"groups": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"$ref": "#/components/schemas/Product"}}}}}}}}}}},
    "/api/v1/admin/reload": {"post": {
        "summary": "Switch to the newest index version", "security": [{"bearer": []}],
        "responses": {"200": {"description": "Live version", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"switched": {"type": "boolean"}, "version": {"type": "string"},
                                             "count": {"type": "integer"}}}}}},
            "401": _error("Missing or wrong token"), "403": _error("Admin API disabled"),
            "409": _error("The new version is broken; the old one keeps serving")}}},
    "/api/v1/admin/status": {"get": {
        "summary": "Console: live version, kept versions, running job and job history", "security": [{"bearer": []}],
        "responses": {"200": {"description": "Status"}, "401": _error("Missing or wrong token"),
                      "403": _error("Admin API disabled")}}},
    "/api/v1/admin/versions/{version}/skipped": {"get": {
        "summary": "Skipped catalog rows of a kept version (JSON, or CSV with format=csv)",
        "security": [{"bearer": []}],
        "parameters": [_param("version", {"type": "string"}, "Version name.", where="path", required=True),
                       _param("format", {"type": "string", "enum": ["json", "csv"]}, "Response format.")],
        "responses": {"200": {"description": "Rows", "content": {"application/json": {}, "text/csv": {}}},
                      "401": _error("Missing or wrong token"), "404": _error("No such kept version")}}},
    "/api/v1/admin/rollback": {"post": {
        "summary": "Make a kept version live again", "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}}}}},
        "responses": {"200": {"description": "Live version"}, "401": _error("Missing or wrong token"),
                      "404": _error("No such kept version"), "409": _error("That version is broken")}}},
    "/api/v1/admin/reindex": {"post": {
        "summary": "Re-index the configured catalog source in the background (one job at a time)",
        "security": [{"bearer": []}],
        "responses": {"202": {"description": "Job started"}, "401": _error("Missing or wrong token"),
                      "409": _error("A job is already running")}}},
    "/api/v1/admin/jobs/current/cancel": {"post": {
        "summary": "Cancel the running re-index (the live version stays)", "security": [{"bearer": []}],
        "responses": {"200": {"description": "Cancelling"}, "401": _error("Missing or wrong token"),
                      "409": _error("No job is running")}}},
    "/admin": {"get": {"summary": "The merchandiser console page (asks for the admin token)",
                       "responses": {"200": {"description": "HTML"}}}},
    "/api/v1/openapi.json": {"get": {"summary": "This document",
                                     "responses": {"200": {"description": "OpenAPI 3 JSON"}}}},
    "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "Process is up"}}}},
    "/readyz": {"get": {"summary": "Readiness: model and index loaded",
                        "responses": {"200": {"description": "Ready"}, "503": _error("Still loading")}}},
    "/": {"get": {"summary": "The shopper's web page", "responses": {"200": {"description": "HTML"}}}},
}


def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "shoplens", "version": "1.0.0",
                 "description": "Visual product search and virtual makeup try-on. Errors are "
                                "{\"error\": {\"code\", \"message\"}} with a 4xx status."},
        "paths": PATHS,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
