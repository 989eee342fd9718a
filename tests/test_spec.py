"""The spec grammar of API.md's Request table, rule by rule: `vframe.spec.parse` accepts exactly
the documented forms, normalizes them, and `str(FrameSpec)` prints the one canonical spelling
(it keys caches and ETags, so it must be stable and parse back to itself)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import vframe
from vframe import errors
from vframe.errors import InvalidSpec, Unsupported, VframeError
from vframe.settings import Settings
from vframe.spec import FrameSpec, parse

# -- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "format", "media_type"),
    [("jpg", "jpg", "image/jpeg"), ("jpeg", "jpg", "image/jpeg"), ("png", "png", "image/png"),
     ("webp", "webp", "image/webp")],
)
def test_supported_formats(word: str, format: str, media_type: str) -> None:
    spec = parse(f"vframe/{word}/offset/7")
    assert spec.format == format
    assert spec.media_type == media_type
    assert str(spec) == f"vframe/{format}/offset/7"


@pytest.mark.parametrize("word", ["gif", "bmp", "tiff", "mp4", "heic", "jpgx", "pngg"])
def test_unknown_format_is_unsupported_415(word: str) -> None:
    with pytest.raises(Unsupported, match=f"'{word}'") as caught:
        parse(f"vframe/{word}/offset/7")
    assert caught.value.status == 415
    assert not isinstance(caught.value, InvalidSpec)


# -- offset ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset_ms"),
    [("0", 0), ("7", 7000), ("7.5", 7500), ("0.040", 40), ("0.04", 40), ("007", 7000), ("12.000", 12000),
     ("999999999", 999_999_999_000), ("3600.001", 3_600_001)],
)
def test_valid_offsets(text: str, offset_ms: int) -> None:
    spec = parse(f"vframe/jpg/offset/{text}")
    assert spec.offset_ms == offset_ms
    assert spec.offset == Decimal(offset_ms) / 1000


@pytest.mark.parametrize(
    ("text", "offset_ms"),
    [
        ("0.0005", 1),  # half up, not half even
        ("0.0015", 2),
        ("0.0025", 3),  # half even would give 2
        ("0.00049", 0),
        ("0.0004999", 0),
        ("1.2345", 1235),
        ("1.23449999", 1234),
        ("0.9995", 1000),
        ("59.99951", 60000),
        ("7.1234567890123", 7123),
    ],
)
def test_offset_rounds_half_up_to_the_millisecond(text: str, offset_ms: int) -> None:
    assert parse(f"vframe/png/offset/{text}").offset_ms == offset_ms


@pytest.mark.parametrize(
    "text",
    ["-1", "-0", "7s", "1e3", "1E3", "nan", "NaN", "inf", "Infinity", "-inf", "+7", "7.", ".5", "7,5",
     "0x10", " 7", "7 ", "١", "1000000000", "seven"],
)
def test_malformed_offset_is_invalid_400(text: str) -> None:
    with pytest.raises(InvalidSpec, match="offset") as caught:
        parse(f"vframe/jpg/offset/{text}")
    assert caught.value.status == 400


# -- structure -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("vframe/jpg/offset/", "empty"),  # empty offset (also a trailing slash)
        ("vframe/jpg/offset", "no value"),  # offset key without its value
        ("vframe/jpg", "no offset"),  # missing offset
        ("vframe/jpg/w/100", "no offset"),
        ("vframe/jpg/w/100/h/50/mode/fast", "no offset"),
        ("vframe/offset/7", "no output format"),  # missing format
        ("vframe//offset/7", "no output format"),
        ("vframe", "no output format"),
        ("vframe/", "no output format"),
        ("vframe/jpg/offset/7/x/1", "unknown key"),  # unknown key
        ("vframe/jpg/offset/7/W/100", "unknown key"),
        ("vframe/jpg/offset/7/width/100", "unknown key"),
        ("vframe/jpg/offset/7/format/png", "unknown key"),
        ("vframe/jpg/offset/7/w", "no value"),  # key without value
        ("vframe/jpg/offset/7/w/100/mode", "no value"),
        ("vframe/jpg/offset/7/offset/8", "twice"),  # repeated key
        ("vframe/jpg/offset/7/w/100/w/100", "twice"),
        ("vframe/jpg/offset/7/mode/fast/mode/exact", "twice"),
        ("vframe/jpg/offset/7/rotate/auto/rotate/auto", "twice"),
        ("vframe/jpg/offset/7/", "trailing"),  # trailing slash
        ("vframe/jpg/offset/7/w/100/", "trailing"),
        ("vframe/jpg/offset//7", "empty"),
        ("vframe/jpg/offset/7//w/100", "empty"),
        ("/vframe/jpg/offset/7", "start with"),  # wrong prefix
        ("Vframe/jpg/offset/7", "start with"),
        ("vframes/jpg/offset/7", "start with"),
        ("imageView2/jpg/offset/7", "start with"),
        ("jpg/offset/7", "start with"),
        ("", "start with"),
    ],
)
def test_malformed_spec_is_invalid_400(text: str, words: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse(text)
    assert caught.value.status == 400
    assert words in caught.value.message.lower()


# -- width and height ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "width", "height"),
    [
        ("w/1", 1, None),
        ("h/1", None, 1),
        ("w/480/h/360", 480, 360),
        ("w/0480", 480, None),
        ("w/3840", 3840, None),  # longer side at most 3840
        ("h/3840", None, 3840),  # a portrait output: h alone may be the longer side
        ("w/2161", 2161, None),  # the shorter-side rule needs both sides
        ("w/3840/h/2160", 3840, 2160),
        ("w/2160/h/3840", 2160, 3840),
        ("w/2160/h/2160", 2160, 2160),
        ("w/1920/h/1080", 1920, 1080),
        ("w/1080/h/1920", 1080, 1920),
    ],
)
def test_valid_sizes(suffix: str, width: int | None, height: int | None) -> None:
    spec = parse(f"vframe/jpg/offset/1/{suffix}")
    assert (spec.width, spec.height) == (width, height)


@pytest.mark.parametrize(
    "suffix",
    [
        "w/0", "h/0", "w/00", "w/0/h/100", "w/100/h/0",  # zero
        "w/-1", "h/-5", "w/+5", "w/10.5", "h/10.0", "w/1e3", "w/abc", "w/0x10", "w/ 10", "w/١٠",  # non-integer
        "w/3841", "h/3841", "w/99999", "w/3841/h/100", "w/100/h/3841",  # longer side > 3840
        "w/2161/h/2161", "w/3840/h/2161", "w/2161/h/3840", "w/3000/h/3000",  # shorter side > 2160
    ],
)
def test_bad_sizes_are_invalid_400(suffix: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse(f"vframe/jpg/offset/1/{suffix}")
    assert caught.value.status == 400
    assert "pixels" in caught.value.message


def test_absurdly_long_width_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidSpec):
        parse("vframe/jpg/offset/1/w/" + "9" * 5000)


# -- rotate and mode -------------------------------------------------------------------------


@pytest.mark.parametrize("degree", ["auto", "0", "90", "180", "270"])
def test_valid_rotations(degree: str) -> None:
    assert parse(f"vframe/jpg/offset/1/rotate/{degree}").rotate == degree


@pytest.mark.parametrize("degree", ["45", "360", "-90", "90.0", "090", "AUTO", "Auto", "none", "cw", "1"])
def test_bad_rotations_are_invalid_400(degree: str) -> None:
    with pytest.raises(InvalidSpec, match="rotate") as caught:
        parse(f"vframe/jpg/offset/1/rotate/{degree}")
    assert caught.value.status == 400


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_valid_modes(mode: str) -> None:
    assert parse(f"vframe/jpg/offset/1/mode/{mode}").mode == mode


@pytest.mark.parametrize("mode", ["slow", "FAST", "Exact", "keyframe", "m_fast", "0", "1"])
def test_bad_modes_are_invalid_400(mode: str) -> None:
    with pytest.raises(InvalidSpec, match="mode") as caught:
        parse(f"vframe/jpg/offset/1/mode/{mode}")
    assert caught.value.status == 400


def test_defaults() -> None:
    spec = parse("vframe/jpg/offset/1")
    assert spec == FrameSpec("jpg", 1000, None, None, "auto", "exact")


# -- canonical printing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("vframe/jpeg/offset/7", "vframe/jpg/offset/7"),
        ("vframe/jpg/offset/7.000", "vframe/jpg/offset/7"),
        ("vframe/jpg/offset/0.040", "vframe/jpg/offset/0.04"),
        ("vframe/jpg/offset/0.5", "vframe/jpg/offset/0.5"),
        ("vframe/jpg/offset/00.5", "vframe/jpg/offset/0.5"),
        ("vframe/jpg/offset/0.0004", "vframe/jpg/offset/0"),
        ("vframe/jpg/offset/1.2345", "vframe/jpg/offset/1.235"),
        ("vframe/jpg/offset/10", "vframe/jpg/offset/10"),  # trailing zeros of an integer stay
        ("vframe/jpg/offset/100.100", "vframe/jpg/offset/100.1"),
        ("vframe/png/offset/1/rotate/auto", "vframe/png/offset/1"),  # defaults omitted
        ("vframe/png/offset/1/mode/exact", "vframe/png/offset/1"),
        ("vframe/png/mode/exact/rotate/auto/offset/1", "vframe/png/offset/1"),
        ("vframe/png/offset/1/rotate/0", "vframe/png/offset/1/rotate/0"),  # 0 is not the default
        ("vframe/png/offset/1/w/0640", "vframe/png/offset/1/w/640"),
        # keys in canonical order whatever order they came in
        ("vframe/webp/mode/fast/rotate/90/h/20/w/10/offset/1.5",
         "vframe/webp/offset/1.5/w/10/h/20/rotate/90/mode/fast"),
        ("vframe/jpg/h/360/offset/2/w/480", "vframe/jpg/offset/2/w/480/h/360"),
        ("vframe/jpg/w/480/offset/2", "vframe/jpg/offset/2/w/480"),
        ("vframe/jpg/h/360/offset/2", "vframe/jpg/offset/2/h/360"),
        ("vframe/jpg/mode/fast/offset/2/rotate/270", "vframe/jpg/offset/2/rotate/270/mode/fast"),
    ],
)
def test_canonical_string(text: str, canonical: str) -> None:
    spec = parse(text)
    assert str(spec) == canonical
    assert parse(canonical) == spec


ROUND_TRIP = [
    "vframe/jpg/offset/0",
    "vframe/jpeg/offset/0.0005",
    "vframe/png/offset/3.14159/w/1/h/1",
    "vframe/webp/offset/12.5/h/3840/mode/fast",
    "vframe/jpg/rotate/180/offset/59.999/w/3840/h/2160",
    "vframe/jpg/mode/fast/rotate/0/offset/0.001",
    "vframe/png/offset/999999999",
    "vframe/png/offset/999999999.9994",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_canonical_string_parses_back_to_itself(text: str) -> None:
    spec = parse(text)
    again = parse(str(spec))
    assert again == spec
    assert str(again) == str(spec)


def test_largest_offset_round_trips() -> None:
    spec = parse("vframe/jpg/offset/999999999.9994")
    assert str(spec) == "vframe/jpg/offset/999999999.999"
    assert str(parse(str(spec))) == str(spec)
    with pytest.raises(InvalidSpec):  # rounds up past the largest offset: refused, not printed unparseably
        parse("vframe/jpg/offset/999999999.9995")


def test_spec_objects_are_values() -> None:
    a = parse("vframe/jpeg/w/10/offset/1.0")
    b = parse("vframe/jpg/offset/1/w/10")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.offset_ms = 5  # type: ignore[misc]


# -- operator limits -------------------------------------------------------------------------

HD = Settings(max_width=1920, max_height=1080)


@pytest.mark.parametrize(
    ("suffix", "width", "height"),
    [("w/1920", 1920, None), ("h/1920", None, 1920), ("w/1920/h/1080", 1920, 1080),
     ("w/1080/h/1920", 1080, 1920), ("w/1080/h/1080", 1080, 1080)],
)
def test_operator_limits_allow_within(suffix: str, width: int | None, height: int | None) -> None:
    spec = parse(f"vframe/jpg/offset/1/{suffix}", HD)
    assert (spec.width, spec.height) == (width, height)


@pytest.mark.parametrize(
    ("suffix", "limit"),
    [("w/1921", "1920"), ("h/1921", "1920"), ("w/3840/h/2160", "1920"), ("w/1081/h/1081", "1080"),
     ("w/1920/h/1081", "1080"), ("w/1081/h/1920", "1080")],
)
def test_operator_limits_lower_the_maximum(suffix: str, limit: str) -> None:
    assert parse(f"vframe/jpg/offset/1/{suffix}")  # fine with the defaults
    with pytest.raises(InvalidSpec, match=limit) as caught:
        parse(f"vframe/jpg/offset/1/{suffix}", HD)
    assert caught.value.status == 400


def test_the_library_exports_parse() -> None:
    assert vframe.parse is parse
    assert str(vframe.parse("vframe/jpeg/offset/1")) == "vframe/jpg/offset/1"


# -- error classes ---------------------------------------------------------------------------

EXPECTED = {
    "InvalidSpec": (400, 3), "Forbidden": (403, 4), "SourceNotFound": (404, 5), "TooLarge": (413, 6),
    "Unsupported": (415, 7), "Busy": (429, 8), "UpstreamFailed": (502, 9), "UpstreamTimeout": (504, 10),
    "ProcessingFailed": (599, 11), "MethodNotAllowed": (405, 12), "JobNotFound": (612, 13),
    "FrontRefusal": (400, 14), "QueueUnavailable": (503, 15),
}
# The HTTP front's own answers (never a CLI exit): each kind its status, one exit code.
FRONT = {"MalformedRequest": 400, "HeaderTimeout": 408, "HeadersTooLarge": 431, "TooManyConnections": 503}


def test_error_classes_match_the_status_table() -> None:
    classes = {cls.__name__: cls for cls in VframeError.__subclasses__()}
    assert set(classes) == set(EXPECTED)
    for name, (status, exit_code) in EXPECTED.items():
        cls = getattr(errors, name)
        assert name == "FrontRefusal" or getattr(vframe, name) is cls  # (the service's only: not the library's)
        assert (cls.status, cls.exit_code) == (status, exit_code), name
        error = cls()
        assert error.status == status and error.exit_code == exit_code
        assert error.message and error.message.endswith(".") and "\n" not in error.message


def test_the_fronts_refusals() -> None:
    assert {cls.__name__ for cls in errors.FrontRefusal.__subclasses__()} == set(FRONT)
    for name, status in FRONT.items():
        error = getattr(errors, name)()
        assert (error.status, error.exit_code) == (status, errors.FrontRefusal.exit_code), name
        assert error.message and error.message.endswith(".") and "\n" not in error.message


def test_error_statuses_and_exit_codes_are_distinct() -> None:
    """Each failure class its own status and exit code; the front's refusals (400 for a malformed
    request, as for a malformed spec) apart."""
    classes = VframeError.__subclasses__()
    statuses = [cls.status for cls in classes if cls is not errors.FrontRefusal]
    exit_codes = [cls.exit_code for cls in classes]
    assert len(set(statuses)) == len(statuses)
    assert len(set(exit_codes)) == len(classes)
    # 0 is success, 1 an internal error, 2 argparse's usage error
    assert not set(exit_codes) & {0, 1, 2}
    assert all(0 < code < 126 for code in exit_codes)


def test_error_message_is_the_given_sentence() -> None:
    error = InvalidSpec("The offset 'x' is wrong.")
    assert error.message == str(error) == "The offset 'x' is wrong."
