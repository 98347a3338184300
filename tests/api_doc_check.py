#!/usr/bin/env python3
"""api_doc_check.py -- docs/API.md must state what include/mrlog.h and the
library do.  Run by tests/api_doc_check.sh with the output of api_facts
(status codes, constants, defaults as the compiled header and
mrlog_policy_init() give them).  It checks that:
  1. every function the header declares has a `### name` section in API.md,
     and every such section names a function the header declares;
  2. every status code's row in API.md's table has the header's value and
     message, and every row names a real code;
  3. every constant in API.md's limits table has the header's value, and
     the version macros API.md quotes match the header;
  4. the policy struct API.md shows has exactly the header's fields, with
     the same types, in the same order, and each field has a `**`name`**`
     paragraph;
  5. every default API.md, mrlog(3) or the header's comments state for a policy
     field (a size, a count, an interval, a mode, an enum constant) is the
     value mrlog_policy_init() sets.
Prints one line per disagreement and exits 1 if there is any."""
import re
import sys

UNITS = {"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_comments(c):
    c = re.sub(r"/\*.*?\*/", " ", c, flags=re.S)
    return re.sub(r"//[^\n]*", " ", c)


def parse_facts(text):
    facts = {"status": {}, "const": {}, "enum": {}, "default": {}}
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if parts[0] == "status":
            facts["status"][parts[1]] = (int(parts[2]), parts[3])
        elif parts[0] in ("const", "enum", "default"):
            facts[parts[0]][parts[1]] = int(parts[2])
    return facts


def doc_value(token, facts):
    """A value as the docs write it: 128 MiB, 2^24, 0644, NULL, an enum
    constant, UINT64_MAX - 1.  None if it is not a value."""
    token = token.strip().strip("`").strip()
    m = re.fullmatch(r"(\d+)\s*(KiB|MiB|GiB)?", token)
    if m:
        base = 8 if len(m.group(1)) > 1 and m.group(1).startswith("0") else 10
        return int(m.group(1), base) * UNITS[m.group(2) or ""]
    m = re.fullmatch(r"2\^(\d+)", token)
    if m:
        return 1 << int(m.group(1))
    if token == "UINT64_MAX - 1":
        return (1 << 64) - 2
    if token == "NULL":
        return 0
    if token in facts["enum"]:
        return facts["enum"][token]
    return None


def header_functions(header):
    code = strip_comments(header)
    # Preprocessor lines (with their continuations) are not declarations;
    # a macro such as mrlog_policy_init stands for a declared function.
    code = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", "", code, flags=re.M)
    names = set()
    for decl in code.split(";"):
        if "MRLOG_EXPORT" not in decl:
            continue
        # `int (name)(...)` declares a function a same-named macro hides.
        m = re.search(r"\(?\b(mrlog_[a-z0-9_]+)\)?\s*\(", decl)
        if m:
            names.add(m.group(1))
    return names


def policy_fields(struct_body):
    fields = []
    for decl in strip_comments(struct_body).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)  # function pointer
        name = m.group(1) if m else re.search(r"(\w+)\s*(\[\d+\])?$", decl).group(1)
        fields.append((name, decl))
    return fields


def main():
    header_path, api_path, facts_path, man_path = sys.argv[1:5]
    header, api = read(header_path), read(api_path)
    man = read(man_path).replace("\\ ", " ").replace("\\-", "-")
    facts = parse_facts(read(facts_path))
    errors = []

    # 1. Functions.
    declared = header_functions(header)
    documented = set(re.findall(r"^### (mrlog_[a-z0-9_]+)\s*$", api, re.M))
    prototyped = set()
    for block in re.findall(r"^```c\n(.*?)^```", api, re.M | re.S):
        prototyped |= set(re.findall(r"^[a-z][^(\n]*?\(?\b(mrlog_[a-z0-9_]+)\)?\(",
                                     block, re.M))
    for name in sorted(declared - documented - prototyped):
        errors.append(f"function {name} is declared in mrlog.h but API.md "
                      f"has neither a '### {name}' section nor its prototype")
    for name in sorted(documented - declared):
        errors.append(f"API.md documents '### {name}', which mrlog.h does "
                      f"not declare")

    # 2. Status codes: | `MRLOG_X` | value | message | meaning |
    rows = re.findall(r"^\| `(MRLOG_[A-Z_]+)` \| (-?\d+) \| ([^|]+?) \|",
                      api, re.M)
    seen = set()
    for name, value, msg in rows:
        if name in facts["const"]:
            continue  # the limits table, checked below
        seen.add(name)
        if name not in facts["status"]:
            errors.append(f"API.md's status table lists {name}, which is "
                          f"not a status code")
            continue
        want_value, want_msg = facts["status"][name]
        if int(value) != want_value:
            errors.append(f"{name}: API.md says {value}, mrlog.h {want_value}")
        if msg.strip() != want_msg:
            errors.append(f"{name}: API.md's message '{msg.strip()}' is not "
                          f"mrlog_strerror's '{want_msg}'")
    for name in sorted(set(facts["status"]) - seen):
        errors.append(f"status {name} has no row in API.md's status table")

    # 3. Constants: | `MRLOG_X` | value | meaning | (the limits table) and
    #    the version macros quoted as #define lines.
    for name, value in re.findall(r"^\| `(MRLOG_[A-Z_]+)` \| ([^|]+?) \|",
                                  api, re.M):
        if name in facts["status"]:
            continue
        if name not in facts["const"]:
            errors.append(f"API.md's limits table lists {name}, which the "
                          f"check does not know (add it to api_facts.c)")
            continue
        got = doc_value(value, facts)
        if got != facts["const"][name]:
            errors.append(f"{name}: API.md says {value.strip()}, mrlog.h "
                          f"{facts['const'][name]}")
    for name, value in re.findall(r"^#define (MRLOG_[A-Z_]+) (\d+)\s*$",
                                  api, re.M):
        if name in facts["const"] and int(value) != facts["const"][name]:
            errors.append(f"{name}: API.md quotes {value}, mrlog.h "
                          f"{facts['const'][name]}")
    m = re.search(r"It is \*\*(\d+)\*\*", api)
    if m and int(m.group(1)) != facts["const"]["MRLOG_FORMAT_VERSION_CURRENT"]:
        errors.append(f"API.md says the current format version is "
                      f"{m.group(1)}, mrlog.h "
                      f"{facts['const']['MRLOG_FORMAT_VERSION_CURRENT']}")

    # 4. The policy struct.
    hm = re.search(r"typedef struct mrlog_policy \{(.*?)\} mrlog_policy;",
                   header, re.S)
    am = re.search(r"typedef struct mrlog_policy \{(.*?)\} mrlog_policy;",
                   api, re.S)
    if not hm or not am:
        errors.append("the policy struct is missing from mrlog.h or API.md")
        hfields = afields = []
    else:
        hfields, afields = policy_fields(hm.group(1)), policy_fields(am.group(1))
        if [f for f, _ in hfields] != [f for f, _ in afields]:
            errors.append("API.md's policy struct fields "
                          f"{[f for f, _ in afields]} are not mrlog.h's "
                          f"{[f for f, _ in hfields]}")
        for (hn, hd), (an, ad) in zip(hfields, afields):
            if hn == an and hd != ad:
                errors.append(f"policy field {hn}: mrlog.h declares '{hd}', "
                              f"API.md '{ad}'")
        for name, _ in hfields:
            if name.startswith("reserved") or name.endswith("_arg"):
                continue
            if f"**`{name}`" not in api:
                errors.append(f"policy field {name} has no **`{name}`** "
                              f"paragraph in API.md")

    # 5. Defaults.
    def check_default(field, text, where):
        if field not in facts["default"]:
            return
        want = facts["default"][field]
        for m in re.finditer(r"\b[Dd]efault:?\s+(`?[A-Z0-9][A-Za-z0-9_^]*`?"
                             r"(?:\s*(?:KiB|MiB|GiB)\b)?)", text):
            got = doc_value(m.group(1), facts)
            if got is not None and got != want:
                errors.append(f"{where} says {field} defaults to "
                              f"{m.group(1)}; mrlog_policy_init sets {want}")
        for m in re.finditer(r"`?(\d+)`?(?::[^;(]*)?\s*\(default\)", text):
            if int(m.group(1)) != want:
                errors.append(f"{where} says {field} defaults to "
                              f"{m.group(1)}; mrlog_policy_init sets {want}")

    if am:
        for line in am.group(1).splitlines():
            m = re.match(r"\s*[^/]*?\b(\w+)(?:\)\(.*\))?;\s*/\*(.*)\*/", line)
            if m:
                check_default(m.group(1), m.group(2),
                              "API.md's policy struct")
    for m in re.finditer(r"^\*\*`(\w+)`\*\*(.*?)(?=^\*\*`|^#)", api,
                         re.M | re.S):
        check_default(m.group(1), m.group(2), f"API.md's {m.group(1)} paragraph")
    if hm:
        comment = ""
        for line in hm.group(1).splitlines():
            if "/*" in line or comment and "*/" not in comment:
                comment += line
                continue
            m = re.search(r"\b(\w+)(?:\[\d+\])?;", line) or \
                re.search(r"\(\s*\*\s*(\w+)\s*\)", line)
            if m and comment:
                check_default(m.group(1), comment,
                              f"mrlog.h's comment on {m.group(1)}")
            comment = ""
    # The policy in mrlog(3): ".TP / .I field / text" paragraphs.
    for para in man.split("\n.TP\n")[1:]:
        m = re.match(r"\.IR? (\w+)", para)
        if m:
            check_default(m.group(1), para, f"mrlog(3) on {m.group(1)}")
    m = re.search(r"^\.B MRLOG_FORMAT_VERSION_CURRENT\n\((\d+)\)", man, re.M)
    if not m or int(m.group(1)) != facts["const"]["MRLOG_FORMAT_VERSION_CURRENT"]:
        errors.append("mrlog(3) does not give MRLOG_FORMAT_VERSION_CURRENT "
                      f"as ({facts['const']['MRLOG_FORMAT_VERSION_CURRENT']})")
    checked = sum(1 for _ in facts["default"])
    for e in errors:
        print("FAIL:", e)
    print(f"api_doc_check: {len(declared)} functions, {len(facts['status'])} "
          f"status codes, {len(facts['const'])} constants, {len(hfields)} "
          f"policy fields, {checked} defaults; {len(errors)} disagreement(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
