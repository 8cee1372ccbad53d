"""notes: a Python agent that summarizes the notes mounted at /notes.

It reads every ``.md`` and ``.txt`` file under /notes with plain ``open()`` (each open, read
and directory listing is a gated wasi:filesystem call), asks the host's ``classify`` tool
about each file (when the policy's toolAccess allows it), optionally fetches one URL through
wasi:http, logs its progress and returns a JSON report.

Task: JSON ``{"url": "https://..."}`` (optional), or any text.
"""

import json
import os

import agent_os

ROOT = "/notes"
MAX_BYTES = 1 << 20


def read_notes() -> tuple[dict, list]:
    notes: dict = {}
    refused: list = []
    for folder, dirs, files in os.walk(ROOT):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            if not name.endswith((".md", ".txt")):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read(MAX_BYTES)
            except OSError as e:  # forbidden paths look missing: ENOENT
                refused.append({"path": path, "error": e.strerror or str(e)})
                continue
            notes[path] = {"lines": text.count("\n"), "words": len(text.split()), "todos": text.count("TODO")}
    return notes, refused


def classify(notes: dict) -> dict:
    if "classify" not in agent_os.available_tools():
        return {}
    labels = {}
    for path, stats in notes.items():
        try:
            labels[path] = agent_os.call_tool("classify", {"path": path, **stats})
        except agent_os.ToolError as e:
            labels[path] = {"error": e.kind}
    return labels


def fetch_one(task: str) -> dict | None:
    try:
        url = json.loads(task).get("url")
    except (ValueError, AttributeError):
        url = None
    if not url:
        return None
    try:
        response = agent_os.fetch(url, headers={"user-agent": "agent-os-python-example"})
    except agent_os.HttpError as e:
        agent_os.warn(f"fetch {url}: {e.code}")
        return {"url": url, "error": e.code}
    return {"url": url, "status": response.status, "body": response.text()[:200]}


def run(task: str) -> str:
    agent_os.info("reading notes")
    notes, refused = read_notes()
    if not notes and not refused:
        raise agent_os.AgentError(f"no notes under {ROOT}: mount a directory there")
    report = {
        "files": len(notes),
        "words": sum(n["words"] for n in notes.values()),
        "todos": sum(n["todos"] for n in notes.values()),
        "notes": notes,
        "refused": refused,
        "labels": classify(notes),
        "fetched": fetch_one(task),
    }
    agent_os.info(f"{report['files']} notes, {report['todos']} TODOs")
    return json.dumps(report, sort_keys=True)
