"""echo in Python: run(task) returns the task, like agents/echo.wat.

Built with componentize-py (CPython + this module + the agent_os helper package) for the
languages section of the benchmark (bench/languages.mjs).
"""


def run(task: str) -> str:
    return task
