#!/usr/bin/env python3
"""Writes N schema-valid cartd events of one UTC day as the file sink would (NDJSON), for the
lake benchmark (bench/lake.sh).

Carts live in a pool: each event picks one at random and changes it the way the service does
(a first add creates the cart, then adds, quantity updates, removals, checkouts, clears), so
versions go up by one per commit and totals follow the lines. Events are spread evenly over the
day's 24 hours, in commit order, and about 1 % are sent twice (at-least-once delivery), which
silver must drop.

    python3 bench/lake/events.py OUT.ndjson [N] [DATE]
"""

import json
import random
import sys
from datetime import datetime, timedelta, timezone

out_path = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
day = datetime.fromisoformat(sys.argv[3] if len(sys.argv) > 3 else "2026-12-01").replace(
    tzinfo=timezone.utc
)
rng = random.Random(7)
PRODUCTS = [(f"book-{n:03d}-pb", 500 + 37 * n) for n in range(200)]
POOL = 50_000
carts = {}
serial = 0


def uuid(kind, n):
    """A UUID-formatted id, unique per kind and number, cheaper than uuid4()."""
    return f"{n:08x}-{kind:04x}-7000-8000-{n:012x}"[-36:]


def event(cart, kind, at, line):
    global serial
    serial += 1
    lines = cart["lines"]
    data = {
        "cart_id": cart["id"], "cart_key": cart["key"], "owner": "guest",
        "version": cart["version"], "line": line,
        "totals": {"item_count": len(lines),
                   "total_quantity": sum(q for _, q, _ in lines.values()),
                   "total_price": sum(q * p for _, q, p in lines.values())},
        "currency": "USD",
    }
    if kind == "cart.checked_out":
        data["order"] = {"order_id": uuid(3, serial), "number": f"CD-{serial:06d}",
                         "status": "pending_payment", "buyer_id": cart["key"],
                         "number_of_installments": 1,
                         "total_amount": data["totals"]["total_price"], "currency": "USD",
                         "purchase_date": at, "reason": None}
    return json.dumps({
        "specversion": "1.0", "id": uuid(1, serial), "source": "/cartd", "type": kind,
        "subject": cart["key"], "time": at, "datacontenttype": "application/json",
        "sequence": f"{cart['version']:020d}", "data": data,
    }, separators=(",", ":"))


def line_json(item, product, before, after, price):
    return {"item_id": item, "product_id": product, "variant_id": None,
            "quantity_before": before, "quantity_after": after, "unit_price": price}


written = 0
step = 86_400 / total
with open(out_path, "w") as out:
    previous = None
    while written < total:
        at = (day + timedelta(seconds=written * step)).isoformat().replace("+00:00", "Z")
        slot = rng.randrange(POOL)
        cart = carts.get(slot)
        records = []
        if cart is None or cart.get("locked"):
            cart = {"id": uuid(2, written), "key": f"guest_{written:026d}", "version": 1,
                    "lines": {}}
            carts[slot] = cart
            product, price = rng.choice(PRODUCTS)
            item = uuid(4, written)
            cart["lines"][item] = (product, 1, price)
            records.append(event(cart, "cart.created", at, None))
            records.append(event(cart, "cart.item_added", at,
                                 line_json(item, product, 0, 1, price)))
        else:
            cart["version"] += 1
            roll = rng.random()
            lines = cart["lines"]
            if roll < 0.55 or not lines:
                product, price = rng.choice(PRODUCTS)
                found = [i for i, (p, _, _) in lines.items() if p == product]
                item = found[0] if found else uuid(4, written)
                before = lines[item][1] if found else 0
                lines[item] = (product, before + 1, price)
                records.append(event(cart, "cart.item_added", at,
                                     line_json(item, product, before, before + 1, price)))
            elif roll < 0.75:
                item = rng.choice(list(lines))
                product, before, price = lines[item]
                lines[item] = (product, before + 2, price)
                records.append(event(cart, "cart.item_updated", at,
                                     line_json(item, product, before, before + 2, price)))
            elif roll < 0.88:
                item = rng.choice(list(lines))
                product, before, price = lines.pop(item)
                records.append(event(cart, "cart.item_removed", at,
                                     line_json(item, product, before, 0, price)))
            elif roll < 0.96:
                records.append(event(cart, "cart.checked_out", at, None))
                cart["locked"] = True
            else:
                lines.clear()
                records.append(event(cart, "cart.cleared", at, None))
        for record in records:
            out.write(record + "\n")
            written += 1
        if previous is not None and rng.random() < 0.01:
            out.write(previous + "\n")  # a redelivered copy
        previous = records[-1]
print(f"{written} events (plus about 1 % copies) in {out_path}", file=sys.stderr)
