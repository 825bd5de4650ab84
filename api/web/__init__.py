"""The staff web page, served by the same FastAPI application."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
