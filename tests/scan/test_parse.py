from saqmigrate.parse import _STAGE1, TRIGGERS, has_triggers, parse_source


def test_stage1_filter_never_drops_a_trigger() -> None:
    for t in TRIGGERS:
        assert any(s in t for s in _STAGE1), t
        assert has_triggers(b"x " + t + b" y")


def test_no_trigger_no_parse() -> None:
    assert not has_triggers(b"import asyncio\nasyncio.create_task(main())\nprint(sig.parameters)\n")


def test_recovery_keeps_line_numbers() -> None:
    src = "type A = int\n\ndef f[T](x: T) -> T:\n    try:\n        return x\n    except ValueError, TypeError:\n        raise\n"
    parsed = parse_source(src)
    fn = parsed.tree.body[1]
    assert fn.name == "f" and fn.lineno == 3 and fn.body[0].handlers[0].lineno == 6
    assert len(parsed.recovered) == 3
