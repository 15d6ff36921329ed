"""Parsing and validating dataset files (JSONL, CSV) into case rows, with line-level errors.

Pure functions: nothing here touches the database, so a rejected file stores nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from benchhub.api.parsers import TooDeep, json_loads_bounded
from experiments.models import CaseKind

# Fields each kind requires, and the optional ones it knows; unknown columns are rejected so
# that a typo ("refrence") is an error, not a silently empty reference.
KIND_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    CaseKind.QA: (frozenset({"id", "input", "reference"}), frozenset({"context", "metadata", "tags"})),
    CaseKind.PR: (
        frozenset({"id", "instruction", "repo"}),
        frozenset({"tests", "test_command", "reference_patch", "metadata", "tags"}),
    ),
    CaseKind.DATA_CLEANING: (
        frozenset({"id", "dirty", "clean", "errors"}),
        frozenset({"difficulty", "metadata", "tags", "instruction"}),
    ),
    CaseKind.RAG: (frozenset({"id", "question", "reference", "index"}), frozenset({"evidence", "metadata", "tags"})),
}
# CSV can only carry flat kinds; nested fields (metadata, tags, errors...) go in as JSON text.
CSV_JSON_FIELDS = frozenset({"metadata", "tags", "input", "errors", "evidence", "repo", "tests"})


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


class DatasetInvalid(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} invalid row(s)")
        self.errors = errors


class DatasetTooLarge(Exception):
    pass


@dataclass(frozen=True)
class ParsedDataset:
    kind: str
    rows: list[dict[str, Any]]
    checksum: str
    source: str


def checksum_rows(kind: str, rows: list[dict[str, Any]]) -> str:
    """SHA-256 of the kind and the canonical JSON of the rows: formatting and key order don't matter."""
    digest = hashlib.sha256(kind.encode())
    for row in rows:
        digest.update(b"\n")
        digest.update(json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    return digest.hexdigest()


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _check_messages(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be text or a non-empty list of {role, content} messages"
    for message in value:
        if (
            not isinstance(message, dict)
            or message.get("role") not in {"system", "user", "assistant"}
            or not isinstance(message.get("content"), str)
        ):
            return "each message needs a role (system, user or assistant) and text content"
    return None


_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_path(path: Any) -> str | None:
    """Why a file path of a `pr` case could escape its sandbox checkout, or None when it is safe:
    a relative POSIX path without `..`, NUL, backslashes or a drive letter."""
    if not isinstance(path, str) or not path.strip():
        return "a path must be non-empty text"
    if "\0" in path or "\\" in path or _DRIVE.match(path):
        return f"{path[:100]!r} is not a relative POSIX path"
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("~"):
        return f"{path[:100]!r} is absolute; paths are relative to the repository"
    if ".." in pure.parts:
        return f"{path[:100]!r} leaves the repository (..)"
    return None


def _path_errors(line: int, name: str, files: Any) -> list[RowError]:
    if not isinstance(files, dict):
        return []
    return [RowError(line, name, problem) for problem in map(unsafe_path, files) if problem]


def validate_row(kind: str, row: Any, line: int) -> list[RowError]:
    """Every problem of one row (not only the first), so a person fixes a file in one pass."""
    if not isinstance(row, dict):
        return [RowError(line, "", "a row must be a JSON object")]
    required, optional = KIND_FIELDS[kind]
    errors = [RowError(line, name, "is required") for name in sorted(required - row.keys())]
    errors += [RowError(line, name, "is not a field of a " + kind + " case") for name in sorted(row.keys() - required - optional)]
    case_id = row.get("id")
    if "id" in row and not (isinstance(case_id, str | int) and str(case_id).strip() and not isinstance(case_id, bool)):
        errors.append(RowError(line, "id", "must be a non-empty string or integer"))
    if "metadata" in row and not isinstance(row["metadata"], dict):
        errors.append(RowError(line, "metadata", "must be an object"))
    if "tags" in row and not (isinstance(row["tags"], list) and all(isinstance(t, str) for t in row["tags"])):
        errors.append(RowError(line, "tags", "must be a list of strings"))

    def text(name: str) -> None:
        if name in row and not _is_text(row[name]):
            errors.append(RowError(line, name, "must be non-empty text"))

    if kind == CaseKind.QA:
        if "input" in row and not _is_text(row["input"]):
            problem = _check_messages(row["input"])
            if problem:
                errors.append(RowError(line, "input", problem))
        if "reference" in row and row["reference"] in (None, ""):
            errors.append(RowError(line, "reference", "must not be empty"))
        if "context" in row and not isinstance(row["context"], str):
            errors.append(RowError(line, "context", "must be text"))
    elif kind == CaseKind.PR:
        text("instruction")
        repo = row.get("repo")
        if "repo" in row and not (
            isinstance(repo, dict)
            and (
                (isinstance(repo.get("files"), dict) and all(isinstance(v, str) for v in repo["files"].values()))
                or isinstance(repo.get("bundle"), str)
            )
        ):
            errors.append(RowError(line, "repo", 'must be {"files": {"path": "content"}} or {"bundle": "..."}'))
        elif isinstance(repo, dict):
            errors += _path_errors(line, "repo.files", repo.get("files"))
        if "tests" in row and not (isinstance(row["tests"], dict) and all(isinstance(v, str) for v in row["tests"].values())):
            errors.append(RowError(line, "tests", 'must be {"path": "content"}'))
        else:
            errors += _path_errors(line, "tests", row.get("tests"))
        text("test_command")
        if "reference_patch" in row and not isinstance(row["reference_patch"], str):
            errors.append(RowError(line, "reference_patch", "must be text (a unified diff)"))
    elif kind == CaseKind.DATA_CLEANING:
        text("dirty")
        text("clean")
        if _is_text(row.get("dirty")) and _is_text(row.get("clean")):
            dirty = list(csv.reader(io.StringIO(row["dirty"])))
            clean = list(csv.reader(io.StringIO(row["clean"])))
            if not dirty or not clean or dirty[0] != clean[0]:
                errors.append(RowError(line, "dirty", "must have the same header as clean"))
        if "errors" in row:
            cells = row["errors"]
            if not isinstance(cells, list) or not all(
                isinstance(c, dict) and {"row", "column", "dimension"} <= c.keys() for c in cells
            ):
                errors.append(RowError(line, "errors", "must be a list of {row, column, dimension}"))
    elif kind == CaseKind.RAG:
        text("question")
        if "reference" in row and row["reference"] in (None, ""):
            errors.append(RowError(line, "reference", "must not be empty"))
        if "index" in row and not isinstance(row["index"], int | str):
            errors.append(RowError(line, "index", "must be an index id"))
        if "evidence" in row and not isinstance(row["evidence"], list):
            errors.append(RowError(line, "evidence", "must be a list of document ids"))
    return errors


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetInvalid([RowError(1, "", f"the file is not UTF-8 text ({exc.reason})")]) from exc


def _read_jsonl(text: str) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    errors: list[RowError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json_loads_bounded(line)))
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, "", f"invalid JSON: {exc.msg} (column {exc.colno})"))
        except TooDeep as exc:
            errors.append(RowError(number, "", f"invalid JSON: {exc}"))
    if errors:
        raise DatasetInvalid(errors)
    return rows


def _read_csv(text: str, kind: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    required, optional = KIND_FIELDS[kind]
    errors = [RowError(1, name, "column is missing") for name in sorted(required - set(header))]
    errors += [RowError(1, name, "is not a column of a " + kind + " dataset") for name in header if name not in required | optional]
    if errors:
        raise DatasetInvalid(errors)
    rows: list[tuple[int, Any]] = []
    try:
        _read_csv_records(reader, optional, rows, errors)
    except csv.Error as exc:
        # e.g. a cell over csv.field_size_limit() (131,072 characters): a line-numbered 400.
        errors.append(RowError(reader.line_num + 1, "", f"unreadable CSV: {exc}; put large fields in JSONL"))
    if errors:
        raise DatasetInvalid(errors)
    return rows


def _read_csv_records(
    reader: csv.DictReader, optional: frozenset[str], rows: list[tuple[int, Any]], errors: list[RowError]
) -> None:
    for record in reader:
        number = reader.line_num
        if None in record:  # more cells than columns
            errors.append(RowError(number, "", "has more cells than the header has columns"))
            continue
        row: dict[str, Any] = {}
        for name, value in record.items():
            if value is None:
                errors.append(RowError(number, name, "is missing (fewer cells than columns)"))
                continue
            if name in CSV_JSON_FIELDS and value.strip()[:1] in ("{", "["):
                try:
                    value = json_loads_bounded(value)
                except json.JSONDecodeError as exc:
                    errors.append(RowError(number, name, f"invalid JSON: {exc.msg}"))
                    continue
                except TooDeep as exc:
                    errors.append(RowError(number, name, f"invalid JSON: {exc}"))
                    continue
            if value == "" and name in optional:
                continue  # an empty optional cell is an absent field
            row[name] = value
        rows.append((number, row))


def dataset_parse(
    *, content: bytes, kind: str, filename: str = "", max_rows: int, max_bytes: int
) -> ParsedDataset:
    """Parse and validate a whole file; raise DatasetInvalid with every bad row, or DatasetTooLarge."""
    if kind not in KIND_FIELDS:
        raise DatasetInvalid([RowError(0, "kind", f"must be one of {', '.join(KIND_FIELDS)}")])
    if len(content) > max_bytes:
        raise DatasetTooLarge(f"the file is {len(content)} bytes; the limit is {max_bytes}")
    text = _decode(content)
    if not text.strip():
        raise DatasetInvalid([RowError(1, "", "the file is empty")])
    source = "csv" if filename.lower().endswith(".csv") else "jsonl"
    numbered = _read_csv(text, kind) if source == "csv" else _read_jsonl(text)
    if len(numbered) > max_rows:
        raise DatasetTooLarge(f"the file has {len(numbered)} rows; the limit is {max_rows}")
    if not numbered:
        raise DatasetInvalid([RowError(1, "", "the file has no rows")])
    return rows_validate(kind=kind, numbered=numbered, source=source)


def rows_validate(*, kind: str, numbered: list[tuple[int, Any]], source: str) -> ParsedDataset:
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for line, row in numbered:
        row_errors = validate_row(kind, row, line)
        errors += row_errors
        if isinstance(row, dict) and "id" in row and not any(e.field == "id" for e in row_errors):
            case_id = str(row["id"]).strip()
            if case_id in seen:
                errors.append(RowError(line, "id", f"duplicate id {case_id!r} (first on line {seen[case_id]})"))
            else:
                seen[case_id] = line
            row = {**row, "id": case_id}
        rows.append(row)
    if errors:
        raise DatasetInvalid(errors)
    return ParsedDataset(kind=kind, rows=rows, checksum=checksum_rows(kind, rows), source=source)
