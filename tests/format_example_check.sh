#!/usr/bin/env bash
# format_example_check.sh -- docs/FORMAT.md section 13 shows real bytes.
# Runs tests/format_example (which writes the section's example through the
# public API) and fails when:
#  - any hexdump of the section differs from the program's, in order;
#  - a byte table of the section (a table whose first column is
#    "Offset (hex)"; the n-th such table explains the n-th whole file the
#    program prints) leaves a gap or an overlap, does not start at 0, or
#    does not end with an "end of file" row at the file's length;
#  - a row's Bytes cell (`xx xx ..`, or `xx ..` x N for a run repeated N
#    times) differs from the file's bytes in the row's range.
# Run by `make check` from the top build directory.
set -euo pipefail
: "${top_builddir:=.}" "${top_srcdir:=.}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$top_builddir/tests/format_example" >"$out"
python3 - "$top_srcdir/docs/FORMAT.md" "$out" <<'EOF'
import re
import sys

doc_path, out_path = sys.argv[1], sys.argv[2]
doc = open(doc_path, encoding="utf-8").read()
m = re.search(r"^## 13\..*?(?=^## 14\.)", doc, re.S | re.M)
if not m:
    sys.exit("format_example_check: no section 13 in " + doc_path)
section = m.group(0)
dump_line = re.compile(r"^[0-9a-f]{8}: ")
errors = []

# The program's blocks: (label, lines).
blocks = []
for line in open(out_path, encoding="utf-8").read().splitlines():
    if line.startswith("== "):
        blocks.append((line[3:], []))
    elif blocks:
        blocks[-1][1].append(line)

# The section's hexdumps: code blocks made only of xxd lines.
dumps = []
for code in re.findall(r"^```[a-z]*\n(.*?)^```", section, re.S | re.M):
    lines = code.splitlines()
    if lines and all(dump_line.match(l) for l in lines):
        dumps.append(lines)
if len(dumps) != len(blocks):
    errors.append("section 13 has %d hexdumps, the program prints %d"
                  % (len(dumps), len(blocks)))
for i, ((label, want), got) in enumerate(zip(blocks, dumps)):
    if want != got:
        errors.append("hexdump %d (%s) differs from the real bytes:" %
                      (i + 1, label))
        for w, g in zip(want + [""] * len(got), got + [""] * len(want)):
            if w != g:
                errors.append("  doc:  " + g)
                errors.append("  real: " + w)


def dump_bytes(lines):
    data = bytearray()
    for l in lines:
        hexpart = l[10:10 + 40]
        data += bytes.fromhex(hexpart.replace(" ", ""))
    return bytes(data)


files = [(label, dump_bytes(lines)) for label, lines in blocks
         if lines and lines[0].startswith("00000000:")]

# The byte tables: rows after a header row whose first cell is Offset (hex).
tables = []
rows = None
for line in section.splitlines():
    if not line.startswith("|"):
        rows = None
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if cells[0] == "Offset (hex)":
        rows = []
        tables.append(rows)
    elif rows is not None and not re.match(r"^-+$", cells[0]):
        rows.append(cells)
if len(tables) != len(files):
    errors.append("section 13 has %d byte tables, the program prints %d "
                  "whole files" % (len(tables), len(files)))
bytes_cell = re.compile(r"^`([0-9a-f]{2}(?: [0-9a-f]{2})*)`(?: [x×] (\d+))?$")
for (label, data), rows in zip(files, tables):
    pos = 0
    ended = False
    for cells in rows:
        if cells[0].startswith("**"):
            continue
        where = "table of %s, row %s" % (label, cells[0])
        r = re.match(r"^([0-9a-f]+)(?:-([0-9a-f]+))?$", cells[0])
        if not r or ended:
            errors.append(where + ": not an offset range after the last")
            continue
        start = int(r.group(1), 16)
        end = int(r.group(2) or r.group(1), 16) + 1
        if start != pos:
            errors.append("%s: starts at 0x%x, the row before ends at 0x%x"
                          % (where, start, pos))
        if len(cells) > 2 and cells[2] == "end of file":
            ended = True
            if start != len(data):
                errors.append("%s: end of file at 0x%x, the file has 0x%x "
                              "bytes" % (where, start, len(data)))
            continue
        pos = end
        b = bytes_cell.match(cells[1]) if len(cells) > 1 else None
        if b:
            want = bytes.fromhex(b.group(1).replace(" ", "")) * \
                int(b.group(2) or 1)
            if data[start:end] != want:
                have = data[start:end].hex(" ")
                if len(have) > 60:
                    have = have[:60] + " .."
                errors.append("%s: Bytes %s, the file has %s" %
                              (where, cells[1], have))
        elif len(cells) > 1 and cells[1]:
            errors.append(where + ": Bytes cell not understood: " + cells[1])
    if not ended:
        errors.append("table of %s: no end of file row" % label)

if errors:
    print("docs/FORMAT.md section 13 does not match tests/format_example:")
    print("\n".join(errors))
    sys.exit(1)
EOF
