#!/usr/bin/env python3
"""Writes a deterministic recipients CSV to stdout: a phone column (unique, valid US numbers in
the formats operators' exports use) and five variable columns."""
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
areas = ["201", "212", "305", "312", "404", "415", "503", "602", "617", "713",
         "720", "808", "907", "214", "303", "206", "702", "615", "919", "971"]
# Exchanges 200-999 without N11 service codes.
exchanges = [e for e in range(200, 1000) if e % 100 != 11]
first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Katherine", "Donald"]
out = sys.stdout
out.write("first_name,last_name,phone,policy,city,balance\n")
for i in range(rows):
    area = areas[i % len(areas)]
    rest = i // len(areas)
    exchange = exchanges[rest % len(exchanges)]
    line = rest // len(exchanges)
    n = f"{area}{exchange}{line:04d}"
    fmt = i % 3
    if fmt == 0:
        phone = f"({n[:3]}) {n[3:6]}-{n[6:]}"
    elif fmt == 1:
        phone = f"+1{n}"
    else:
        phone = f"{n[:3]}-{n[3:6]}-{n[6:]}"
    out.write(f"{first[i % 8]},Smith{i % 977},{phone},P-{i:07d},\"Springfield, IL\",{(i * 37) % 10000}.{i % 100:02d}\n")
