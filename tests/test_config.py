"""config.toml is validated strictly: one message naming the key and the file, exit 2."""

from pathlib import Path

import pytest

from caseload.catalog import load_catalog
from caseload.config import example_toml, load_config
from caseload.errors import BadInput

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text,needle", [
    ('[organisation]\nnmae = "x"\n', "organisation.nmae"),
    ("[reports]\nmin_cell_size = \"five\"\n", "reports.min_cell_size"),
    ("[reports]\nmin_cell_size = true\n", "reports.min_cell_size"),
    ('[organisation]\ntimezone = "Europe/Amsterdamm"\n', "organisation.timezone"),
    ('[sms]\nsender = "Werkplein Twente"\n', "sms.sender"),
    ('[email]\nsecurity = "tls"\n', "email.security"),
    ("[organisation\n", "not valid TOML"),
    ('[catalog]\nexclude = ["nope"]\n', "catalog.exclude"),
])
def test_bad_config_names_key_and_file(tmp_path, text, needle):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(BadInput) as e:
        load_catalog(load_config(path))
    assert needle in e.value.message and str(path) in e.value.message


def test_cli_exit_code_2_on_bad_config(cli):
    cli.config.write_text("[organisation]\ncolour = 'blue'\n")
    result = cli("client", "list")
    assert result.exit_code == 2
    assert "organisation.colour" in result.stderr and "Traceback" not in result.output


def test_repository_config_is_the_documented_example():
    assert (REPO / "config.toml").read_text(encoding="utf-8") == example_toml()
    cfg = load_config(REPO / "config.toml")
    assert cfg.organisation.timezone == "Europe/Amsterdam" and cfg.reports.min_cell_size == 5


def test_inline_characteristics_and_exclusions(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[catalog]\nexclude = ["zrm_justice"]\n\n[[characteristic]]\nkey = "bike_course"\ntype = "bool"\n'
        'label = { en = "Bike course", nl = "Fietscursus" }\ncategory = "skills"\npurpose = "Match to the project"\n')
    catalog = load_catalog(load_config(path))
    assert "bike_course" in catalog and "zrm_justice" not in catalog and len(catalog) == 80


def test_catalog_file_relative_to_config(tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[[characteristic]]\nkey = "x"\ntype = "scale"\nmin = 1\nmax = 3\nlabel = { en = "X", nl = "X" }\n'
        'category = "work"\npurpose = "p"\n')
    (tmp_path / "config.toml").write_text('[catalog]\nfile = "mine.toml"\n')
    assert load_catalog(load_config(tmp_path / "config.toml")).keys() == ["x"]
