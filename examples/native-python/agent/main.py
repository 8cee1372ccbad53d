"""A native Python agent: it runs as a plain python3 process inside the bubblewrap sandbox.

It reads the task (JSON) from stdin, looks through the text files of the read-only /data
mount, writes its progress to stderr (each line becomes a log event on the host) and prints
a JSON report on stdout (the run's output). Its exit status is the run's: 0 is ok, any other
is AGENT_ERROR.

    agentos run --native --policy examples/native-python/policy.yaml \
      --task '{"word": "TODO"}' -- python3 -I /agent/main.py
"""

import json
import os
import sys


def main() -> int:
    task = json.loads(sys.stdin.read() or "{}")
    word = task.get("word", "TODO")
    counts = {}
    for folder, dirs, files in os.walk("/data"):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    counts[path] = f.read().count(word)
            except OSError as e:
                print(f"cannot read {path}: {e.strerror}", file=sys.stderr)
    print(f"looked at {len(counts)} files", file=sys.stderr)
    # The sandbox has no network: this fails, as the policy says it must.
    try:
        import urllib.request
        urllib.request.urlopen("http://example.com", timeout=2)
        network = "reachable"
    except Exception as e:  # noqa: BLE001 - any failure means unreachable
        network = f"unreachable ({type(e).__name__})"
    print(json.dumps({"word": word, "counts": counts, "total": sum(counts.values()), "network": network, "uid": os.getuid()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
