"""What `whyrec` says about itself: --version, help on every argument and option, one error style for usage errors."""

from __future__ import annotations

from pathlib import Path

import typer

from cli_helpers import Run, one_error_line
from whyrec import __version__
from whyrec.cli import app
from whyrec.recommend.registry import RECOMMENDERS


def test_version(cli: Run) -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"whyrec {__version__}"


def test_every_option_has_help_and_every_argument_is_described() -> None:
    def walk(command, path: str):  # type: ignore[no-untyped-def]
        for param in command.params:
            if param.param_type_name == "argument":  # Click's Argument takes no help: the command's help names it
                assert (param.metavar or param.name).strip("[]. ").upper() in (command.help or ""), (path, param.name)
            else:
                assert param.help, (path, param.name)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "whyrec")


def test_train_help_lists_the_models_and_the_default(cli: Run) -> None:
    shown = " ".join(cli("train", "--help").stdout.replace("│", " ").split())
    assert all(name in shown for name in RECOMMENDERS) and "else sasrec" in shown and "else prompt_lm" in shown


def test_usage_errors_are_one_whyrec_error_line(cli: Run) -> None:
    typo = one_error_line(cli("trian"))
    assert typo.startswith("whyrec: error: No such command 'trian'.") and typo.count("Did you mean") == 1
    assert one_error_line(cli("train", "--store", "x")) == "whyrec: error: Missing option '--out'. (see 'whyrec train --help')"
    assert one_error_line(cli("recommend", "--artifact", "a", "--user", "u", "-k", "many")).startswith(
        "whyrec: error: Invalid value for '-k'"
    )


def test_a_table_without_the_expected_columns_points_at_mapping(tmp_path: Path, cli: Run) -> None:
    events = tmp_path / "orders.csv"
    events.write_text("customer,sku\nc1,s1\n")
    line = one_error_line(cli("ingest", events, "--format", "table", "--store", tmp_path / "s.sqlite"))
    assert "--mapping" in line and 'user = "customer"' in line and "the column with the shopper's id" in line
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('user = "customer"\nproduct = "sku"\n')
    line = one_error_line(cli("ingest", events, "--format", "table", "--mapping", mapping, "--store", tmp_path / "s.sqlite"))
    assert "field 'product' is not one a --mapping file can set" in line and "item (the column with the product's id)" in line
    assert "Extra inputs" not in line
