from __future__ import annotations

import dataclasses

import pytest

from lmforge.config import (
    ConfigError,
    build_config,
    from_dict,
    load_yaml,
    parse_overrides,
    require,
    save_config,
    to_dict,
)


@dataclasses.dataclass
class Inner:
    size: int = 4
    ratio: float = 0.5
    names: list[str] = dataclasses.field(default_factory=list)
    betas: tuple[float, float] = (0.9, 0.95)
    mode: str | None = None

    def validate(self) -> None:
        require(self.size % 2 == 0, "size", f"must be even (got {self.size})")


@dataclasses.dataclass
class Outer:
    name: str = "run"
    inner: Inner = dataclasses.field(default_factory=Inner)
    flag: bool = False


def test_overrides_parse_yaml_scalars_and_nesting():
    parsed = parse_overrides(["--inner.size=8", "--inner.betas=[0.8, 0.9]", "--flag", "--name", "x"])
    assert parsed == {"inner": {"size": 8, "betas": [0.8, 0.9]}, "flag": True, "name": "x"}


def test_yaml_then_overrides_then_validation(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ninner:\n  size: 2\n  names: [x, y]\n")
    config = build_config(Outer, path, ["--inner.ratio=0.25"])
    assert config.name == "a"
    assert config.inner == Inner(size=2, ratio=0.25, names=["x", "y"])
    assert isinstance(config.inner.betas, tuple)
    with pytest.raises(ConfigError, match=r"inner\.size: must be even \(got 3\)"):
        build_config(Outer, path, ["--inner.size=3"])


def test_unknown_and_mistyped_fields_are_named():
    with pytest.raises(ConfigError, match=r"inner\.sise: unknown field for Inner \(did you mean 'size'\?\)"):
        from_dict(Outer, {"inner": {"sise": 3}})
    with pytest.raises(ConfigError, match=r"inner\.size: expected an integer"):
        from_dict(Outer, {"inner": {"size": "big"}})
    with pytest.raises(ConfigError, match=r"flag: expected true or false"):
        from_dict(Outer, {"flag": "maybe"})


def test_save_roundtrip(tmp_path):
    config = build_config(Outer, None, ["--inner.names=[a]", "--inner.mode=fast"])
    save_config(config, tmp_path / "saved.yaml")
    assert from_dict(Outer, load_yaml(tmp_path / "saved.yaml")) == config
    assert to_dict(config)["inner"]["betas"] == [0.9, 0.95]


@dataclasses.dataclass
class WithOptionalSection:
    inner: Inner | None = None


def test_errors_inside_an_optional_section_name_the_nested_field():
    assert from_dict(WithOptionalSection, {"inner": None}).inner is None
    # not "inner: expected Inner or NoneType, got {...}": the field and its rule
    with pytest.raises(ConfigError, match=r"^inner\.size: expected an integer, got 'abc'$"):
        from_dict(WithOptionalSection, {"inner": {"size": "abc"}})
    with pytest.raises(ConfigError, match=r"^inner\.sise: unknown field"):
        from_dict(WithOptionalSection, {"inner": {"sise": 2}})


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b'save_folder: "caf\xff"\n')
    with pytest.raises(ConfigError, match=r"run\.yaml: invalid UTF-8 at byte"):
        load_yaml(str(path))
