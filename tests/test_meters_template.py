"""The meter seam: the registry is the only factory, duplicates raise, the template works."""

from __future__ import annotations

import json

import pytest

from pvshare.config import MeterSection
from pvshare.meters import registry
from pvshare.meters.base import PollMeter, PushMeter


def test_the_template_meter_works_through_the_registry(tmp_path):
    import pvshare.meters.template as template

    f = tmp_path / "meter.json"
    section = MeterSection(id="flat-7", type=template.TYPE, path=str(f))
    assert registry.validate_meter_options(section, "meters[0]") == []
    meter = registry.create(section, None)
    assert isinstance(meter, PollMeter) and registry.kind_of(template.TYPE) == "poll"
    assert meter.read(100.0) == []                      # no file yet: counted, not raised
    f.write_text(json.dumps({"import_wh": 1234.5, "power_w": 300}))
    (r,) = meter.read(200.0)
    assert (r.meter_id, r.time_s, r.import_wh, r.export_wh, r.power_w) == \
        ("flat-7", 200.0, 1234.5, None, 300.0)
    f.write_text("[1, 2]")
    assert meter.read(300.0) == []
    assert dict(meter.counters) == {"polls": 3, "unreadable": 2, "readings": 1}
    bad = MeterSection(id="x", type=template.TYPE, path=str(f), pth="typo")
    assert registry.validate_meter_options(bad, "meters[3]") == \
        ["meters[3].pth: unknown field (check its spelling)"]


def test_a_duplicate_registration_raises():
    import pvshare.meters.template as template

    with pytest.raises(registry.DuplicateMeterType, match="template-json-file"):
        registry.register(template.TYPE, template.Options, template._factory)


def test_an_unknown_type_names_the_known_ones():
    section = MeterSection(id="x", type="modbuss")
    (problem,) = registry.validate_meter_options(section, "meters[1]")
    assert problem.startswith("meters[1].type: unknown meter type 'modbuss'")
    assert "sunspec" in problem and "mqtt" in problem


def test_every_bundled_type_follows_the_protocol_of_its_kind():
    assert registry.kind_of("mqtt") == "push"
    sections = [MeterSection(id="a", type="sunspec", host="127.0.0.1"),
                MeterSection(id="b", type="modbus", host="127.0.0.1", profile="sdm630"),
                MeterSection(id="c", type="tic", port="/dev/null-not-a-port")]
    for s in sections:
        meter = registry.create(s, None)
        assert registry.kind_of(s.type) == "poll"
        assert isinstance(meter, PollMeter) and not isinstance(meter, PushMeter), s.type
        assert all(isinstance(v, int) for v in dict(meter.counters).values())
        meter.close()


def test_one_meter_id_rule_for_the_mqtt_meter_and_closing():
    import tomllib
    from pathlib import Path

    from pvshare.config import parse_config
    from pvshare.meters.ids import participant_meter_ids
    from pvshare.meters.mqtt import MqttMeter

    example = Path(__file__).resolve().parents[1] / "config" / "example.toml"
    for meter_id in ("linky-{participant}", "linky"):
        data = tomllib.loads(example.read_text())
        data["meters"] = [{"id": meter_id, "type": "mqtt", "format": "zlinky",
                           "topic": "zigbee2mqtt/{participant}"}]
        data["participants"][0]["meter"] = "own-meter"
        cfg = parse_config(data, str(example))
        meter = registry.create(cfg.meters[0], cfg)
        assert isinstance(meter, MqttMeter) and isinstance(meter, PushMeter)
        ids = participant_meter_ids(cfg)
        assert [meter.meter_ids[p.id] for p in cfg.participants] == ids
        assert ids[0] == "own-meter"
        second = cfg.participants[1].id
        assert ids[1] == f"linky-{second}"    # from the template, or "<id>-<participant>"
