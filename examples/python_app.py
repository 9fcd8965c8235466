#!/usr/bin/env python3
"""A Python app that enqueues pgworker jobs by writing its own rows, then reads the results back.

It assumes the `orders` table from the README, with the trigger attached:

    CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text, total numeric);
    SELECT pgworker.attach_trigger('orders', task => 'send_receipt');

and a worker handling `send_receipt`, e.g. the command task from the README.

Run:  DATABASE_URL=postgresql://app@localhost/shop python3 examples/python_app.py --orders 25
Needs psycopg 3 (`python3 -m pip install 'psycopg[binary]'`). The role needs INSERT on orders and,
to read results back, SELECT on pgworker.jobs (`SELECT pgworker.grant_app('app')`).
"""
import argparse
import json
import os
import sys
import time
import uuid

import psycopg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10, help="how many orders to insert")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for the receipts")
    args = parser.parse_args()
    conninfo = os.environ.get("DATABASE_URL", "")

    batch = uuid.uuid4().hex[:8]
    with psycopg.connect(conninfo) as conn:
        # One COPY, one transaction: the trigger turns it into one INSERT into pgworker.jobs
        # and wakes the workers once, at commit. A rollback would enqueue nothing.
        with conn.transaction():
            with conn.cursor().copy("COPY orders (email, total) FROM STDIN") as copy:
                for n in range(args.orders):
                    copy.write_row((f"customer{n}.{batch}@example.com", 10 + n))
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM orders WHERE email LIKE %s ORDER BY id", (f"%.{batch}@example.com",))]
        print(f"inserted {len(ids)} orders: {ids[0]}..{ids[-1]}")

        deadline = time.monotonic() + args.timeout
        while True:
            rows = conn.execute(
                """SELECT (payload->>'id')::bigint, state, result, last_error FROM pgworker.jobs
                   WHERE task = 'send_receipt' AND (payload->>'id')::bigint = ANY(%s) ORDER BY 1""",
                (ids,)).fetchall()
            conn.commit()  # a fresh snapshot for the next look
            finished = [r for r in rows if r[1] in ("succeeded", "dead", "cancelled")]
            if len(finished) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.2)

    sent = [r for r in rows if r[1] == "succeeded"]
    for order_id, state, result, error in rows[:5]:
        print(f"order {order_id}: {state} {json.dumps(result) if result is not None else error or ''}")
    print(f"{len(sent)} of {len(ids)} receipts sent")
    return 0 if len(sent) == len(ids) else 1


if __name__ == "__main__":
    sys.exit(main())
