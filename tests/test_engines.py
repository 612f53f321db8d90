"""The engine contract on the local engine (``test_ray.py`` runs it on Ray)."""

from __future__ import annotations

from engine_contract import EngineContract


class TestLocalEngine(EngineContract):
    """Workers on this machine."""

    engine_args = ("--engine", "local")
