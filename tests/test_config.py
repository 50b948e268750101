from pathlib import Path

import pytest

from conftest import build_app
from readerapp import create_app
from readerapp.config import DEFAULTS, PROJECT_ROOT


def test_defaults_work_with_no_files_or_environment(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("READERAPP_"):
            monkeypatch.delenv(name)
    app = create_app(instance_path=tmp_path / "instance-missing")
    assert app.config["DATABASE"] == PROJECT_ROOT / "instance" / "archive.sqlite3"
    assert app.config["INDEX_DIR"] == PROJECT_ROOT / "index"
    assert app.config["PAGE_SIZE"] == DEFAULTS["PAGE_SIZE"] == 20
    assert app.config["CACHE_TYPE"] == "SimpleCache"


def test_instance_config_then_environment_then_overrides(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        f"DATABASE = {str(tmp_path / 'from-instance.sqlite3')!r}\n"
        "PAGE_SIZE = 7\nSITE_NAME = 'Instance Times'\nWORDS_PER_MINUTE = 100\n"
    )
    app = create_app(instance_path=instance)
    assert app.config["DATABASE"] == tmp_path / "from-instance.sqlite3"
    assert app.config["PAGE_SIZE"] == 7

    monkeypatch.setenv("READERAPP_DATABASE", str(tmp_path / "from-env.sqlite3"))
    monkeypatch.setenv("READERAPP_INDEX_DIR", str(tmp_path / "env-index"))
    monkeypatch.setenv("READERAPP_PAGE_SIZE", "30")
    app = create_app(instance_path=instance)
    assert app.config["DATABASE"] == tmp_path / "from-env.sqlite3"
    assert app.config["INDEX_DIR"] == tmp_path / "env-index"
    assert app.config["PAGE_SIZE"] == 30, "env values are JSON, so numbers are ints"
    assert app.config["SITE_NAME"] == "Instance Times", "unset env keeps instance"

    app = create_app({"PAGE_SIZE": 5}, instance_path=instance)
    assert app.config["PAGE_SIZE"] == 5
    assert app.config["DATABASE"] == tmp_path / "from-env.sqlite3"
    assert app.config["WORDS_PER_MINUTE"] == 100


def test_site_name_setting_reaches_the_pages(tmp_path, make_app):
    app = make_app(tmp_path, SITE_NAME="The Harbour Gazette")
    page = app.test_client().get("/").text
    assert "The Harbour Gazette" in page
    assert Path(app.config["DATABASE"]).exists()


@pytest.mark.parametrize(
    "value",
    [
        "news.example.org",
        "ftp://news.example.org",
        "https://x.org/news",
        "https://x.org/?a=1",
    ],
)
def test_site_url_must_be_a_scheme_and_host(tmp_path, value):
    with pytest.raises(ValueError, match="SITE_URL must be a scheme and host"):
        build_app(tmp_path, SITE_URL=value)
