"""Typed errors. Each carries where it happened so a user can fix the input, not read a traceback."""

from __future__ import annotations

from pathlib import Path


class WhyrecError(Exception):
    """Base of every error whyrec raises on purpose."""

    exit_code = 1


class DataError(WhyrecError):
    """Bad input data: names the file, the row (1-based line or record number) and the field."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def located(self, *, file: str | Path | None = None, row: int | None = None) -> DataError:
        """The same error with the file/row filled in where the raiser did not know them."""
        return DataError(
            self.message,
            file=self.file if self.file is not None else file,
            row=self.row if self.row is not None else row,
            field=self.field,
        )


class ConfigError(WhyrecError):
    """A configuration value or file is invalid."""

    exit_code = 2


class ArtifactError(WhyrecError):
    """A saved model/artifact is missing, corrupt, or of another format version."""

    exit_code = 2


class NotFoundError(WhyrecError):
    """A user, item or model name that does not exist."""

    exit_code = 2
