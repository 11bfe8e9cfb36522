"""A Griffe extension that reads Keras-style docstrings for the API reference (mkdocs.yml loads it).

keras-tricks writes its docstrings as Keras does (STYLE.md), which Griffe's Google parser reads
differently:

- `Args:` entries are `name: Type. Description.`; Griffe wants `name (Type): Description.`, or it
  shows an empty Type column and warns "No type or annotation for parameter".
- `Example:` is followed by doctest lines at the docstring's own indentation; Griffe only opens a
  section over indented lines, so the `>>>` lines were rendered as Markdown, nested quotes, with their
  outputs (`[1.0, 1.0]`) read as cross-reference links.
- `Returns:` is usually prose ("A built, uncompiled `keras.Sequential`."); a leading `dict.` or
  `list of str.` is taken as its type.

Each docstring is rewritten into the form Griffe parses, line for line (warnings keep their line
numbers), before anything parses it. The package's docstrings stay in Keras style, and the doctests
run them as written.

Griffe's own warning for a missing type is off (`warn_missing_types: false` in mkdocs.yml) because it
also fires on prose `Returns:`; this extension warns instead for an `Args:` entry with no type, so the
strict build still fails on one.
"""

import re

import griffe

# A section title at the docstring's own indentation, as Griffe recognises them ("References:").
_SECTION = re.compile(r"^[A-Za-z][\w -]*:\s*$")
_ARG = re.compile(r"^(?P<indent>\s+)(?P<name>\*{0,2}\w+): (?P<rest>.*)$")
# What a Returns type looks like: "dict", "list of str", "keras.Model", "int or None".
# An entry that is a type alone ("`keras.optimizers.schedules.LearningRateSchedule`.").
_TYPE_ONLY = re.compile(r"^`?[\w.]+`?$")
_RETURN_TYPE = re.compile(r"^[a-z][\w.]*(?: (?:of|or) [\w.]+)*$")


def _first_sentence(text):
    """Splits `text` at the first period that ends a sentence outside brackets and backticks.

    Returns `(sentence, rest)`, or `None` when no period ends a sentence.
    """
    depth = 0
    in_code = False
    for i, char in enumerate(text):
        if char == "`":
            in_code = not in_code
        elif in_code:
            continue
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == "." and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i], text[i + 1 :].lstrip()
    return None


def _clean_type(text):
    # Backticks would show literally inside the Type column's code span.
    return " ".join(text.replace("`", "").split())


class KerasStyleDocstrings(griffe.Extension):
    """Rewrites Keras-style `Args:`, `Example:` and `Returns:` sections into Griffe's Google form."""

    def on_instance(self, *, obj, **kwargs):
        docstring = obj.docstring
        if docstring is not None and docstring.value:
            docstring.value = "\n".join(_rewrite(docstring.value.split("\n"), docstring))


def _rewrite(lines, docstring):
    out = []
    section = None
    number = 0
    while number < len(lines):
        line = lines[number]
        if _SECTION.match(line):
            section = line.strip()[:-1].strip().lower()
            if section == "example":
                # Griffe skips a section whose title a blank line separates from its body: the blank
                # lines go above the title.
                blanks = 0
                while number + 1 + blanks < len(lines) and not lines[number + 1 + blanks].strip():
                    blanks += 1
                out.extend([""] * blanks + ["Examples:"])
                number += 1 + blanks
                continue
            out.append(line)
        elif section in ("example", "examples"):
            # Griffe reads a section's lines only when they are indented; the doctests run to the
            # next section title.
            out.append("    " + line if line.strip() else line)
        elif line and not line[0].isspace():
            section = None  # back to the docstring's text
            out.append(line)
        elif (
            section == "args"
            and (match := _ARG.match(line))
            and (len(match["indent"]) == _section_indent(lines, number))
        ):
            item = _item_lines(lines, number, match["indent"])
            out.extend(_rewrite_arg(match, item, number, docstring))
            number += len(item)
            continue
        elif section == "returns":
            out.append(_rewrite_return(line, lines, number))
        else:
            out.append(line)
        number += 1
    return out


def _item_lines(lines, number, indent):
    """The lines of the item that starts at `lines[number]`: its first line and its continuation lines."""
    end = number + 1
    while end < len(lines) and lines[end].startswith(indent + " ") and lines[end].strip():
        end += 1
    return lines[number:end]


def _rewrite_arg(match, item, number, docstring):
    """`name: Type. Description` (the type may run over several lines) as `name (Type): Description`."""
    name, indent = match["name"], match["indent"]
    if name.startswith("*"):
        return item  # Keras gives `*args` and `**kwargs` a description only
    words = [match["rest"], *(line.strip() for line in item[1:])]
    split = _first_sentence(" ".join(words))
    if split is None or (not split[1] and not _TYPE_ONLY.match(split[0])) or ":" in split[0]:
        griffe.docstring_warning(
            docstring, number, f"No type for parameter '{name}' (Keras style: `{name}: Type. Description.`)"
        )
        return item
    type_ = split[0]
    # The item's first line takes the type and what follows it on the line where it ends; the lines
    # the type ran over become blank lines above the item, which Griffe drops (line numbers kept).
    ends, rest = _where_ends(words, len(type_) + 1)
    head = f"{indent}{name} ({_clean_type(type_)}): {rest}".rstrip()
    return [""] * ends + [head, *item[ends + 1 :]]


def _where_ends(words, length):
    """`(index, rest)`: the line of `words` (joined by spaces) where the first `length` characters
    end, and what follows them on that line."""
    for index, text in enumerate(words):
        if length <= len(text):
            return index, text[length:].lstrip()
        length -= len(text) + 1
    return len(words) - 1, ""


def _rewrite_return(line, lines, number):
    indent = _section_indent(lines, number)
    if len(line) - len(line.lstrip()) != indent or number == 0 or not _SECTION.match(lines[number - 1]):
        return line
    split = _first_sentence(line.strip())
    if split and _RETURN_TYPE.match(split[0]):
        return f"{' ' * indent}({split[0]}): {split[1]}"
    return line


def _section_indent(lines, number):
    """The indentation of the first item of the section that holds `lines[number]`."""
    start = number
    while start > 0 and not _SECTION.match(lines[start - 1]):
        start -= 1
    for line in lines[start:]:
        if line.strip():
            return len(line) - len(line.lstrip())
    return 0
