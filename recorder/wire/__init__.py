"""Pydantic models of each dialect's wire format (requests, responses, stream events, errors)."""
