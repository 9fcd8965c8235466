#!/usr/bin/env python3
"""A persistent pgworker command task in plain Python: no client library, only the line protocol.

Run it as the program of one or more tasks; it starts once and runs job after job:

    pgworker run --persistent-task word_count='python3 examples/persistent_worker.py' \
                 --persistent-task noop='python3 examples/persistent_worker.py' --task-copies noop=4

Protocol (docs/jobs.md#persistent-programs): each job arrives as one line of JSON on
stdin, {"id", "task", "queue", "attempt", "max_attempts", "payload"}; answer with one line of
JSON on stdout naming the same id: {"id", "result"} for success, {"id", "error"} for a failure
that is retried, {"id", "error", "discard": true} for one that is not, and any number of
{"id", "progress", "message"} lines before that. End of file on stdin means exit.
"""
import json
import os
import sys


class Discard(Exception):
    """A failure retrying cannot fix (bad input): the job goes straight to dead."""


def word_count(job, progress):
    text = job["payload"].get("text")
    if not isinstance(text, str):
        raise Discard('payload needs a "text" string')
    lines = text.splitlines() or [""]
    words = 0
    for number, line in enumerate(lines, 1):
        words += len(line.split())
        progress(number / len(lines), f"line {number} of {len(lines)}")
    return {"words": words, "pid": os.getpid()}


def noop(job, progress):
    return None


def fail(job, progress):
    raise RuntimeError(job["payload"].get("message", "failed on purpose"))


HANDLERS = {"word_count": word_count, "noop": noop, "fail": fail}


def main():
    out = sys.stdout
    for line in sys.stdin:
        job = json.loads(line)
        job_id = job["id"]

        def progress(fraction, message=None):
            out.write(json.dumps({"id": job_id, "progress": fraction, "message": message}) + "\n")
            out.flush()

        handler = HANDLERS.get(job["task"])
        try:
            if handler is None:
                raise Discard(f"this program has no handler for task {job['task']!r}")
            reply = {"id": job_id, "result": handler(job, progress)}
        except Discard as error:
            reply = {"id": job_id, "error": str(error), "discard": True}
        except Exception as error:  # any other failure is retried with backoff
            reply = {"id": job_id, "error": f"{type(error).__name__}: {error}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
