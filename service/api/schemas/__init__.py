"""Pydantic models of every JSON request and response body the HTTP API speaks.

They describe; they do not validate on the request path (see ``common``). The OpenAPI
document (:mod:`service.openapi`) is generated from them, and the schema tests check real
responses against it.
"""
