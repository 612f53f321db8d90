"""The kinds of blueprint: every blueprint has exactly one."""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    """The type of a blueprint; every blueprint has exactly one."""

    #: one Python script
    TASK = "task"
    #: related tasks that run in order on one machine
    JOB = "job"
    #: jobs plus the dependencies between them
    PROJECT = "project"
