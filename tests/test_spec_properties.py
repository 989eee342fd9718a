"""Property tests of the spec parser (hypothesis). tests/test_spec.py checks the documented forms one
by one; these check what must hold for every string a client could send: `parse` either returns a
FrameSpec whose canonical text parses back to itself, or raises InvalidSpec (400) or Unsupported
(415), never another exception (a ValueError or a decimal error would be a 500 in the service).
Valid specs built from generated parts parse to exactly those parts, and any part out of its range
is a 400 even next to an unknown format (malformed parts are reported first).

Runs are derandomized and keep no example database, so CI sees the same examples on every machine;
no deadline, because the machine is shared and a slow example is not a failure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from vframe.errors import InvalidSpec, Unsupported
from vframe.settings import DEFAULT, Settings
from vframe.spec import FORMATS, KEYS, MAX_OFFSET_MS, MODES, ROTATIONS, FrameSpec, parse

CI = hypothesis_settings(
    max_examples=300, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Words of the grammar and its near misses: numbers in forms Python's int(), float() and Decimal()
# accept but the grammar does not (unicode digits, underscores, exponents, signs, spaces), and
# characters that have tripped parsers before (NUL, line breaks, percent escapes, astral planes).
TOKENS = [
    "vframe", "Vframe", "jpg", "jpeg", "png", "webp", "gif", "JPG", "avif",
    *KEYS, "W", "offsets", "rotate", "mode", *ROTATIONS, "-90", "360", *MODES, "FAST",
    "0", "7", "7.5", "0.040", "0.0005", "999999999", "999999999.9995", "999999999.99949", "1000000000",
    "3840", "3841", "2160", "2161", "000001", "0000001", "1" + "0" * 30, "1." + "9" * 40,
    "-1", "+1", "1e3", "1E3", ".5", "7.", "7..5", "nan", "inf", "Infinity", "1_000", "0x10", " 7", "7\n",
    "١", "٣.٥", "𝟕", "²", "½", "\x00", "%2F", "%00", "é", "",
]
ALPHABET = st.sampled_from(list("0123456789./-+_eE vframejpgoffsetwhrotatemodeauto\t\n\r\x00%é١𝟕²½"))
PIECE = st.one_of(st.sampled_from(TOKENS), st.text(ALPHABET, max_size=12))
SPEC_LIKE = st.one_of(
    st.lists(PIECE, max_size=14).map(lambda parts: "/".join(["vframe", *parts])),
    st.lists(PIECE, max_size=14).map("/".join),
    st.text(ALPHABET, max_size=60),
    st.text(max_size=60),  # anything at all, surrogates and astral planes included
)


def assert_parses_canonically_or_refuses(text: str, settings: Settings = DEFAULT) -> FrameSpec | None:
    """The property every input must have; returns the spec when `text` is valid."""
    try:
        spec = parse(text, settings)
    except (InvalidSpec, Unsupported) as error:
        assert error.status in (400, 415)
        assert error.message
        return None
    canonical = str(spec)
    assert parse(canonical, settings) == spec
    assert str(parse(canonical, settings)) == canonical
    assert spec.format in set(FORMATS.values())
    assert 0 <= spec.offset_ms <= MAX_OFFSET_MS
    for side in (spec.width, spec.height):
        assert side is None or 1 <= side <= settings.max_width
    assert spec.rotate in ROTATIONS and spec.mode in MODES
    return spec


@CI
@given(SPEC_LIKE)
@example("vframe/jpg/offset/" + "1." + "9" * 5000)
@example("vframe/jpg/offset/999999999.9995")
@example("vframe/jpg/offset/7/w/" + "9" * 5000)
@example("vframe/jpeg/offset/0.0005/w/000001/h/3840/rotate/0/mode/fast")
def test_any_text_parses_canonically_or_is_refused_with_400_or_415(text: str) -> None:
    assert_parses_canonically_or_refuses(text)


@CI
@given(SPEC_LIKE)
def test_unsupported_format_is_only_said_of_specs_valid_apart_from_the_format(text: str) -> None:
    """API.md: malformed parts are a 400 before an unknown format is a 415, so a 415 spec with its
    format word replaced by jpg must parse."""
    try:
        parse(text)
    except Unsupported:
        segments = text.split("/")
        assert parse("/".join([segments[0], "jpg", *segments[2:]])).format == "jpg"
    except InvalidSpec:
        pass


# -- valid specs from generated parts --------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A spec's text, the limits it is parsed under and the FrameSpec it must give."""

    text: str
    settings: Settings
    expected: FrameSpec


def expected_millis(whole: str, fraction: str | None) -> int:
    """The offset in ms, rounded half up from the full decimal text at a precision that never rounds
    early (independent of the parser's shortcut of reading four fraction digits)."""
    with localcontext() as context:
        context.prec = 200
        seconds = Decimal(f"{whole}.{fraction}" if fraction is not None else whole)
        return int((seconds * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def padded(draw: st.DrawFn, number: int, width: int) -> str:
    """`number` with leading zeros, at most `width` characters in all."""
    digits = str(number)
    return "0" * draw(st.integers(0, max(0, width - len(digits)))) + digits


def canonical_text(spec: FrameSpec) -> str:
    """README: the canonical spec orders the keys offset, w, h, rotate, mode, leaves out the defaults
    and writes the offset in seconds without trailing zeros."""
    seconds = format(Decimal(spec.offset_ms) / 1000, "f")  # an exact quotient keeps no trailing zeros
    parts = ["vframe", spec.format, "offset", seconds]
    parts += ["w", str(spec.width)] if spec.width is not None else []
    parts += ["h", str(spec.height)] if spec.height is not None else []
    parts += ["rotate", spec.rotate] if spec.rotate != "auto" else []
    parts += ["mode", spec.mode] if spec.mode != "exact" else []
    return "/".join(parts)


@st.composite
def limits(draw: st.DrawFn) -> Settings:
    """The default limits or an operator's own (a shorter side never above the longer one)."""
    if draw(st.booleans()):
        return DEFAULT
    longest = draw(st.integers(16, 8192))
    return Settings(max_width=longest, max_height=draw(st.integers(1, longest)))


@st.composite
def offsets(draw: st.DrawFn) -> tuple[str, int]:
    """An offset's text (leading zeros, up to 60 decimals, nines that carry) and its ms, within range."""
    whole = draw(st.one_of(st.integers(0, 999_999_999), st.sampled_from([0, 999_999_999])))
    fraction = draw(st.one_of(
        st.none(),
        st.text(st.sampled_from("0123456789"), min_size=1, max_size=60),
        st.sampled_from(["0005", "0004999", "9995", "9994999999", "5", "000", "9" * 40]),
    ))
    if expected_millis(str(whole), fraction) > MAX_OFFSET_MS:  # 999999999.9995 and up: out of range
        fraction = None
    return padded(draw, whole, 9) + (f".{fraction}" if fraction is not None else ""), expected_millis(
        str(whole), fraction
    )


@st.composite
def valid_cases(draw: st.DrawFn, format_words: st.SearchStrategy[str] | None = None) -> Case:
    settings = draw(limits())
    word = draw(format_words if format_words is not None else st.sampled_from(sorted(FORMATS)))
    offset_text, offset_ms = draw(offsets())
    parts = {"offset": offset_text}
    width = draw(st.none() | st.integers(1, settings.max_width))
    height = draw(st.none() | st.integers(1, settings.max_width))
    if width is not None and height is not None and min(width, height) > settings.max_height:
        height = draw(st.integers(1, settings.max_height))
    if width is not None:
        parts["w"] = padded(draw, width, 6)
    if height is not None:
        parts["h"] = padded(draw, height, 6)
    rotate = draw(st.sampled_from(ROTATIONS))
    mode = draw(st.sampled_from(MODES))
    if rotate != "auto" or draw(st.booleans()):
        parts["rotate"] = rotate
    if mode != "exact" or draw(st.booleans()):
        parts["mode"] = mode
    order = draw(st.permutations(sorted(parts)))
    text = "/".join(["vframe", word, *(item for key in order for item in (key, parts[key]))])
    expected = FrameSpec(FORMATS.get(word, "jpg"), offset_ms, width, height, rotate, mode)
    return Case(text, settings, expected)


@CI
@given(valid_cases())
@example(Case("vframe/jpg/offset/999999999.99949999", DEFAULT, FrameSpec("jpg", MAX_OFFSET_MS)))
@example(Case("vframe/png/offset/0.0005/h/3840", DEFAULT, FrameSpec("png", 1, None, 3840)))
@example(Case("vframe/webp/mode/fast/w/2160/offset/000000007/h/003840/rotate/270", DEFAULT,
              FrameSpec("webp", 7000, 2160, 3840, "270", "fast")))
def test_valid_spec_from_parts_parses_to_exactly_those_parts(case: Case) -> None:
    spec = parse(case.text, case.settings)
    assert spec == case.expected
    assert str(spec) == canonical_text(case.expected)
    assert assert_parses_canonically_or_refuses(str(spec), case.settings) == spec


UNKNOWN_FORMATS = st.text(st.characters(exclude_characters="/"), min_size=1, max_size=10).filter(
    lambda word: word not in FORMATS and word not in KEYS
)


@CI
@given(valid_cases(UNKNOWN_FORMATS))
def test_valid_parts_with_an_unknown_format_are_unsupported_415(case: Case) -> None:
    with pytest.raises(Unsupported) as caught:
        parse(case.text, case.settings)
    assert caught.value.status == 415


# -- one part out of range: always 400, whatever the format ---------------------------------

BAD_OFFSETS = st.one_of(
    st.integers(1_000_000_000, 10**30).map(str),  # more than nine digits of seconds
    st.text(st.sampled_from("0123456789"), max_size=30).map(lambda tail: "999999999.9995" + tail),
    st.integers(1, 10**9).map(lambda n: f"-{n}"),
    st.sampled_from(["-0", "+7", "7.", ".5", "1e3", "nan", "inf", "7s", " 7", "7\n", "١", "7..5", "0000000000",
                     "1_0", "٣.٥"]),
)
BAD_ROTATIONS = st.text(max_size=5).filter(lambda word: word not in ROTATIONS and "/" not in word and word)
BAD_MODES = st.text(max_size=6).filter(lambda word: word not in MODES and "/" not in word and word)


def bad_sides(longest: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just("0"), st.integers(longest + 1, 10**7).map(str), st.integers(1, 10**6).map(lambda n: f"-{n}"),
        st.sampled_from(["0000001", "1.5", "1e3", "0x10", "1_0", "٣", " 1", "+1", "𝟕"]),
    )


@st.composite
def out_of_range_cases(draw: st.DrawFn) -> tuple[str, Settings]:
    """A valid spec (with a known or an unknown format) with one part made invalid."""
    case = draw(valid_cases(st.sampled_from(sorted(FORMATS)) | UNKNOWN_FORMATS))
    segments = case.text.split("/")
    values = dict(zip(segments[2::2], segments[3::2], strict=True))
    longest, shortest = case.settings.max_width, case.settings.max_height
    breakage = draw(st.sampled_from(["offset", "w", "h", "rotate", "mode", "both", "structure"]))
    if breakage == "offset":
        values["offset"] = draw(BAD_OFFSETS)
    elif breakage in ("w", "h"):
        values[breakage] = draw(bad_sides(longest))
    elif breakage == "rotate":
        values["rotate"] = draw(BAD_ROTATIONS)
    elif breakage == "mode":
        values["mode"] = draw(BAD_MODES)
    elif breakage == "both" and shortest < longest:
        values["w"] = str(draw(st.integers(shortest + 1, longest)))
        values["h"] = str(draw(st.integers(shortest + 1, longest)))
    elif breakage != "structure":
        values["offset"] = draw(BAD_OFFSETS)  # (no room for "both": fall back to a bad offset)
    text = "/".join([*segments[:2], *(item for pair in values.items() for item in pair)])
    if breakage == "structure":
        without_offset = [item for key, value in values.items() if key != "offset" for item in (key, value)]
        text = draw(st.sampled_from([
            text + "/", text + "/w", text + "/offset/1", text + "/x/1", text.replace("/offset/", "//offset/"),
            "/".join(segments[:2] + without_offset),
        ]))
    return text, case.settings


@CI
@given(out_of_range_cases())
def test_any_malformed_part_is_invalid_400_even_with_an_unknown_format(case: tuple[str, Settings]) -> None:
    text, settings = case
    with pytest.raises(InvalidSpec) as caught:
        parse(text, settings)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "text",
    ["vframe/jpg/offset/7\n", "vframe/jpg/offset/7/w/1\r\n2", "vframe/jp\ng/offset/7", "vframe/jpg/offset/7/x\n/1"],
)
def test_error_message_is_one_line_whatever_the_client_sent(text: str) -> None:
    with pytest.raises((InvalidSpec, Unsupported)) as caught:
        parse(text)
    assert "\n" not in caught.value.message and "\r" not in caught.value.message


@pytest.mark.parametrize("text", ["vframe/jpg/offset/" + "9" * 5000, "vframe/" + "x" * 5000 + "/offset/1",
                                  "vframe/jpg/offset/1/" + "k" * 5000 + "/1"])
def test_error_message_quotes_at_most_a_little_of_what_the_client_sent(text: str) -> None:
    with pytest.raises((InvalidSpec, Unsupported)) as caught:
        parse(text)
    assert len(caught.value.message) < 200 and "..." in caught.value.message
